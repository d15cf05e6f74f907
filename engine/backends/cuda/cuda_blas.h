#pragma once
// One entry point to cuBLAS GEMM for the matmul and conv2d paths, in cuBLAS's own column-major
// terms: C[b] = op(A[b]) op(B[b]) + beta C[b] for b < batch, with A, B and C at
// data + b * stride (a stride of 0 reuses one matrix for every product).

#include <cstdint>

#include "cuda_backend.h"

namespace onestep::cuda_backend {

struct GemmOperand {
  const void* data;
  int64_t ld;            // leading dimension (column-major)
  int64_t batch_stride;  // in elements
  bool transposed;       // op(X) = X^T
};

// m x n result from (m x k) op(A) and (k x n) op(B); `dtype` is f32 or f64.
void gemm_strided_batched(const CudaBackend& be, DType dtype, int64_t m, int64_t n, int64_t k,
                          const GemmOperand& a, const GemmOperand& b, void* c, int64_t ldc,
                          int64_t c_batch_stride, int64_t batch, double beta);

}  // namespace onestep::cuda_backend
