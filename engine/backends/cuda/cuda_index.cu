// index_select and its adjoint index_add (labels, embeddings). x is viewed as contiguous
// [outer, n, inner] and index as contiguous i64 [k]; ops/shape_ops.cpp checks every index
// against [0, n) on the host before either kernel runs.

#include "cuda_backend.h"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

namespace {

// out [outer, k, inner] = x[:, index[j], :]
template <class T>
__global__ void index_select_kernel(const T* x, const int64_t* index, T* out, int64_t outer,
                                    int64_t n, int64_t k, int64_t inner) {
  ONESTEP_GRID_STRIDE_LOOP(i, outer * k * inner) {
    const int64_t in = i % inner, j = (i / inner) % k, o = i / (inner * k);
    out[i] = x[(o * n + index[j]) * inner + in];
  }
}

__device__ __forceinline__ void atomic_add(float* p, float v) {
  atomicAdd(p, v);
}
__device__ __forceinline__ void atomic_add(double* p, double v) {
  atomicAdd(p, v);  // native on sm_60 and later
}
__device__ __forceinline__ void atomic_add(int64_t* p, int64_t v) {
  // Two's complement: an unsigned 64-bit add is the signed add.
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// out[:, index[j], :] += src[:, j, :]. Repeated indices add into one row from several threads,
// hence the atomics; their order varies, so float sums with repeated indices may differ from
// run to run in the last bits.
template <class T>
__global__ void index_add_kernel(const T* src, const int64_t* index, T* out, int64_t outer,
                                 int64_t n, int64_t k, int64_t inner) {
  ONESTEP_GRID_STRIDE_LOOP(i, outer * k * inner) {
    const int64_t in = i % inner, j = (i / inner) % k, o = i / (inner * k);
    atomic_add(out + (o * n + index[j]) * inner + in, src[i]);
  }
}

// Launches the kernel kernel_of(T{}) returns, for T of `dtype`, over the outer * k * inner
// elements index_select reads and index_add writes: (in, index, out, outer, n, k, inner).
template <class KernelOf>
void launch_index_kernel(const CudaBackend& be, DType dtype, const Tensor& in, const Tensor& index,
                         const Tensor& out, int64_t outer, int64_t n, int64_t inner,
                         KernelOf kernel_of) {
  const int64_t k = index.numel();
  if (outer * k * inner == 0) return;
  be.activate();
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    ONESTEP_LAUNCH(blocks_for(outer * k * inner, be.sm_count()), kThreads, 0, be.stream(),
                   kernel_of(tag))(typed<T>(in), typed<int64_t>(index), typed<T>(out), outer, n,
                                   k, inner);
  });
}

}  // namespace

void CudaBackend::index_select(const Tensor& x, const Tensor& index, const Tensor& out,
                               int64_t outer, int64_t n, int64_t inner) {
  launch_index_kernel(*this, x.dtype(), x, index, out, outer, n, inner,
                      [](auto tag) { return index_select_kernel<decltype(tag)>; });
}

void CudaBackend::index_add(const Tensor& src, const Tensor& index, const Tensor& out,
                            int64_t outer, int64_t n, int64_t inner) {
  launch_index_kernel(*this, out.dtype(), src, index, out, outer, n, inner,
                      [](auto tag) { return index_add_kernel<decltype(tag)>; });
}

}  // namespace onestep::cuda_backend
