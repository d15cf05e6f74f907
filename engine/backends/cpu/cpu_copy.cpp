// copy (with dtype conversion), fill, arange, host transfers.

#include <cmath>
#include <cstring>

#include "cpu_backend.h"
#include "strided_loop.h"

namespace onestep::cpu_backend {

void CpuBackend::copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void CpuBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    const size_t element = dtype_size(src.dtype());
    auto* to = static_cast<char*>(dst.raw_data());
    const auto* from = static_cast<const char*>(src.raw_data());
    parallel_for(0, src.numel(), kElementwiseGrain * 4, [&](int64_t b, int64_t e) {
      std::memcpy(to + b * element, from + b * element, (e - b) * element);
    });
    return;
  }
  const auto plan = make_plan<2>(dst.shape(), {&dst.strides(), &src.strides()});
  dispatch_dtypes(dst.dtype(), src.dtype(), [&](auto dst_tag, auto src_tag) {
    using D = decltype(dst_tag);
    using S = decltype(src_tag);
    D* out = typed<D>(dst);
    const S* in = typed<S>(src);
    parallel_iterate(
        plan, [&](const std::array<int64_t, 2>& o, int64_t n, const std::array<int64_t, 2>& s) {
          D* po = out + o[0];
          const S* pi = in + o[1];
          if (s[0] == 1 && s[1] == 1) {
            for (int64_t i = 0; i < n; ++i) po[i] = static_cast<D>(pi[i]);
          } else {
            for (int64_t i = 0; i < n; ++i) po[i * s[0]] = static_cast<D>(pi[i * s[1]]);
          }
        });
  });
}

void CpuBackend::fill(const Tensor& dst, double value) {
  const auto plan = make_plan<1>(dst.shape(), {&dst.strides()});
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = typed<T>(dst);
    const T v = static_cast<T>(value);
    parallel_iterate(
        plan, [&](const std::array<int64_t, 1>& o, int64_t n, const std::array<int64_t, 1>& s) {
          for (int64_t i = 0; i < n; ++i) out[o[0] + i * s[0]] = v;
        });
  });
}

void CpuBackend::arange(const Tensor& dst, double start, double step) {
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = typed<T>(dst);
    const int64_t n = dst.numel();
    // fma: one rounding, as the CUDA kernel's __fma_rn. Written out as start + i * step, the
    // result would depend on whether the compiler contracts it (it does under -march=native).
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<T>(std::fma(static_cast<double>(i), step, start));
  });
}

}  // namespace onestep::cpu_backend
