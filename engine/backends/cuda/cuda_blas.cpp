// cuBLAS GEMM for f32 (full precision unless ONESTEP_TF32=1; bfloat16 operands on tensor cores
// under MatmulPrecision::bf16, which takes precedence) and f64.

#include "cuda_blas.h"

#include <limits>

#include "onestep/engine/precision.h"

namespace onestep::cuda_backend {

namespace {

int as_int(int64_t value, const char* what) {
  ONESTEP_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(),
                "matmul on cuda: {} = {} exceeds cuBLAS's 32-bit limit", what, value);
  return static_cast<int>(value);
}

cublasOperation_t op_of(const GemmOperand& x) {
  return x.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
}

}  // namespace

void gemm_strided_batched(const CudaBackend& be, DType dtype, int64_t m, int64_t n, int64_t k,
                          const GemmOperand& a, const GemmOperand& b, void* c, int64_t ldc,
                          int64_t c_batch_stride, int64_t batch, double beta) {
  if (m == 0 || n == 0 || batch == 0) return;
  ONESTEP_CHECK(k > 0, "gemm on cuda: inner size 0 must be handled by the caller");
  ONESTEP_CHECK(dtype == DType::f32 || dtype == DType::f64,
                "matmul on cuda: expected f32 or f64, got {}", dtype_name(dtype));
  const cudaDataType_t type = dtype == DType::f64 ? CUDA_R_64F : CUDA_R_32F;
  const float alpha32 = 1.0f, beta32 = static_cast<float>(beta);
  const double alpha64 = 1.0, beta64 = beta;
  const bool f64 = dtype == DType::f64;
  const cublasComputeType_t compute =
      f64 ? CUBLAS_COMPUTE_64F
      : matmul_precision() == MatmulPrecision::bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF
      : be.tf32()                                   ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                    : CUBLAS_COMPUTE_32F;
  ONESTEP_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      be.blas(), op_of(a), op_of(b), as_int(m, "rows"), as_int(n, "columns"),
      as_int(k, "inner size"), f64 ? static_cast<const void*>(&alpha64) : &alpha32, a.data, type,
      as_int(a.ld, "leading dimension"), a.batch_stride, b.data, type,
      as_int(b.ld, "leading dimension"), b.batch_stride,
      f64 ? static_cast<const void*>(&beta64) : &beta32, c, type, as_int(ldc, "leading dimension"),
      c_batch_stride, as_int(batch, "batch"), compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace onestep::cuda_backend
