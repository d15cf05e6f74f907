// copy (with dtype conversion), fill, arange, host transfers.

#include "cuda_backend.h"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

namespace {

// dst[i] = D(src[i]) over a strided plan; operand 0 is dst, 1 is src.
template <class D, class S, class Indexer>
__global__ void copy_kernel(D* dst, const S* src, Indexer ix, int64_t n) {
  ONESTEP_GRID_STRIDE_LOOP(i, n) {
    typename Indexer::index_type o[2];
    ix.offsets(static_cast<typename Indexer::index_type>(i), o);
    dst[o[0]] = static_cast<D>(src[o[1]]);
  }
}

template <class T, class Indexer>
__global__ void fill_kernel(T* dst, T value, Indexer ix, int64_t n) {
  ONESTEP_GRID_STRIDE_LOOP(i, n) {
    typename Indexer::index_type o[1];
    ix.offsets(static_cast<typename Indexer::index_type>(i), o);
    dst[o[0]] = value;
  }
}

// dst[i] = T(fma(i, step, start)) in double: one rounding, exactly as cpu_copy.cpp computes it
// with std::fma, so both backends agree to the bit whatever the compiler contracts elsewhere.
template <class T>
__global__ void arange_kernel(T* dst, double start, double step, int64_t n) {
  ONESTEP_GRID_STRIDE_LOOP(i, n) {
    dst[i] = static_cast<T>(__fma_rn(static_cast<double>(i), step, start));
  }
}

}  // namespace

void CudaBackend::copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  activate();
  ONESTEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  // The host buffer may be freed as soon as we return (from_vector passes a temporary).
  ONESTEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  activate();
  ONESTEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  ONESTEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    ONESTEP_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(),
                                       static_cast<size_t>(n) * dtype_size(dst.dtype()),
                                       cudaMemcpyDeviceToDevice, stream_));
    return;
  }
  const auto plan = make_plan<2>(dst.shape(), {&dst.strides(), &src.strides()}, "copy");
  dispatch_dtypes(dst.dtype(), src.dtype(), [&](auto dst_tag, auto src_tag) {
    using D = decltype(dst_tag);
    using S = decltype(src_tag);
    with_indexer(plan, [&](auto ix) {
      ONESTEP_LAUNCH(blocks_for(n, sm_count_), kThreads, 0, stream_,
                     copy_kernel<D, S, decltype(ix)>)(typed<D>(dst), typed<S>(src), ix, n);
    });
  });
}

void CudaBackend::fill(const Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  const auto plan = make_plan<1>(dst.shape(), {&dst.strides()}, "fill");
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    with_indexer(plan, [&](auto ix) {
      ONESTEP_LAUNCH(blocks_for(n, sm_count_), kThreads, 0, stream_, fill_kernel<T, decltype(ix)>)(
          typed<T>(dst), static_cast<T>(value), ix, n);
    });
  });
}

void CudaBackend::arange(const Tensor& dst, double start, double step) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ONESTEP_LAUNCH(blocks_for(n, sm_count_), kThreads, 0, stream_, arange_kernel<T>)(
        typed<T>(dst), start, step, n);
  });
}

}  // namespace onestep::cuda_backend
