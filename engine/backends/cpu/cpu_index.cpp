// index_select and its adjoint index_add (for labels and embeddings).

#include <cstring>

#include "cpu_backend.h"
#include "parallel.h"

namespace onestep::cpu_backend {

void CpuBackend::index_select(const Tensor& x, const Tensor& index, const Tensor& out,
                              int64_t outer, int64_t n, int64_t inner) {
  const int64_t* idx = typed<int64_t>(index);
  const int64_t k = index.numel();
  const size_t element = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(0, outer * k, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t job = b; job < e; ++job) {
                   const int64_t o = job / k, j = job % k;
                   std::memcpy(dst + (o * k + j) * inner * element,
                               src + (o * n + idx[j]) * inner * element, inner * element);
                 }
               });
}

void CpuBackend::index_add(const Tensor& src, const Tensor& index, const Tensor& out, int64_t outer,
                           int64_t n, int64_t inner) {
  const int64_t* idx = typed<int64_t>(index);
  const int64_t k = index.numel();
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* ps = typed<T>(src);
    T* po = typed<T>(out);
    // Repeated indices add into the same row, so split over `outer` only.
    parallel_for(0, outer, 1, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t j = 0; j < k; ++j) {
          T* dst = po + (o * n + idx[j]) * inner;
          const T* from = ps + (o * k + j) * inner;
          for (int64_t i = 0; i < inner; ++i) dst[i] += from[i];
        }
    });
  });
}

}  // namespace onestep::cpu_backend
