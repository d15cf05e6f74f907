// cuBLAS GEMM as a reference loop. Arguments are checked as cuBLAS checks them (handle, then
// operations, sizes and leading dimensions, then types); operands must lie inside device
// allocations, which on a GPU would be an illegal address and here is a Fault. Products
// accumulate in the compute type, in order of the inner index; FAST_TF32 and FAST_16BF round A
// and B to TF32's 10-bit or bfloat16's 7-bit mantissa first, as the tensor cores do.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "state.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {

using cuda_emulator::Fault;

float round_to_tf32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if ((bits & 0x7F800000u) == 0x7F800000u) return v;  // inf and NaN stay
  bits = (bits + 0x1000u) & ~0x1FFFu;                   // nearest, ties away from zero
  std::memcpy(&v, &bits, sizeof bits);
  return v;
}

// Nearest, ties to even (cuBLAS's conversion to bfloat16).
float round_to_bf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if ((bits & 0x7F800000u) == 0x7F800000u) return v;  // inf and NaN stay
  bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
  std::memcpy(&v, &bits, sizeof bits);
  return v;
}

// How a float32 GEMM rounds its operands.
enum class InputRounding { none, tf32, bf16 };

struct Operand {
  const char* name;
  const void* data;
  int rows, cols, ld;  // as stored, column-major
  long long stride;
};

void check_inside_allocations(const Operand& x, int batch, size_t element) {
  if (x.rows == 0 || x.cols == 0 || batch == 0) return;
  const long long last = static_cast<long long>(x.cols - 1) * x.ld + (x.rows - 1);
  for (int b = 0; b < batch; ++b) {
    const auto* start = static_cast<const unsigned char*>(x.data) +
                        static_cast<long long>(b) * x.stride * static_cast<long long>(element);
    if (!cuda_emulator::detail::in_device_allocation(start, (last + 1) * element))
      throw Fault(std::string("cuBLAS GEMM: operand ") + x.name + " of batch entry " +
                  std::to_string(b) + " (" + std::to_string(x.rows) + " x " +
                  std::to_string(x.cols) + ", ld " + std::to_string(x.ld) +
                  ") is not inside one device allocation");
  }
}

// C = alpha op(A) op(B) + beta C for every batch entry, T the storage and Acc the compute type.
template <class T, class Acc>
void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha, const T* a,
          int lda, long long sa, const T* b, int ldb, long long sb, T beta, T* c, int ldc,
          long long sc, int batch, InputRounding rounding) {
  std::vector<Acc> column(static_cast<size_t>(m));
  auto in = [rounding](T v) -> Acc {
    if constexpr (std::is_same_v<T, float>) {
      if (rounding == InputRounding::tf32) return round_to_tf32(v);
      if (rounding == InputRounding::bf16) return round_to_bf16(v);
    }
    return v;
  };
  for (int e = 0; e < batch; ++e) {
    const T* A = a + e * sa;
    const T* B = b + e * sb;
    T* C = c + e * sc;
    for (int j = 0; j < n; ++j) {
      std::fill(column.begin(), column.end(), Acc(0));
      for (int p = 0; p < k; ++p) {
        const Acc bv = in(tb == CUBLAS_OP_N ? B[p + static_cast<long long>(j) * ldb]
                                            : B[j + static_cast<long long>(p) * ldb]);
        if (ta == CUBLAS_OP_N) {
          const T* a_col = A + static_cast<long long>(p) * lda;
          for (int i = 0; i < m; ++i) column[i] += in(a_col[i]) * bv;
        } else {
          for (int i = 0; i < m; ++i) column[i] += in(A[p + static_cast<long long>(i) * lda]) * bv;
        }
      }
      T* c_col = C + static_cast<long long>(j) * ldc;
      // beta == 0: C is not read (it may hold NaN), as cuBLAS documents.
      for (int i = 0; i < m; ++i)
        c_col[i] = beta == T(0) ? static_cast<T>(alpha * column[i])
                                : static_cast<T>(alpha * column[i] + beta * c_col[i]);
    }
  }
}

bool valid_op(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

int max1(int v) {
  return v < 1 ? 1 : v;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!cuda_emulator::detail::valid_stream(stream)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

namespace {
// Name and text as cuBLAS gives them.
constexpr cuda_emulator::detail::StatusText<cublasStatus_t> kStatusTexts[] = {
    {CUBLAS_STATUS_SUCCESS, "CUBLAS_STATUS_SUCCESS", "success"},
    {CUBLAS_STATUS_NOT_INITIALIZED, "CUBLAS_STATUS_NOT_INITIALIZED",
     "the library was not initialized"},
    {CUBLAS_STATUS_ALLOC_FAILED, "CUBLAS_STATUS_ALLOC_FAILED", "the resource allocation failed"},
    {CUBLAS_STATUS_INVALID_VALUE, "CUBLAS_STATUS_INVALID_VALUE",
     "an invalid numeric value was used as an argument"},
    {CUBLAS_STATUS_EXECUTION_FAILED, "CUBLAS_STATUS_EXECUTION_FAILED",
     "the GPU program failed to execute"},
    {CUBLAS_STATUS_NOT_SUPPORTED, "CUBLAS_STATUS_NOT_SUPPORTED",
     "the functionality requested is not supported"},
};
constexpr cuda_emulator::detail::StatusText<cublasStatus_t> kUnknownStatus = {
    CUBLAS_STATUS_SUCCESS, "CUBLAS_STATUS_UNKNOWN", "unknown error"};
}  // namespace

const char* cublasGetStatusName(cublasStatus_t status) {
  return cuda_emulator::detail::status_text(kStatusTexts, status, kUnknownStatus).name;
}

const char* cublasGetStatusString(cublasStatus_t status) {
  return cuda_emulator::detail::status_text(kStatusTexts, status, kUnknownStatus).text;
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k,
                                          const void* alpha, const void* a, cudaDataType_t a_type,
                                          int lda, long long stride_a, const void* b,
                                          cudaDataType_t b_type, int ldb, long long stride_b,
                                          const void* beta, void* c, cudaDataType_t c_type, int ldc,
                                          long long stride_c, int batch,
                                          cublasComputeType_t compute, cublasGemmAlgo_t algo) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!valid_op(transa) || !valid_op(transb)) return CUBLAS_STATUS_INVALID_VALUE;
  if (m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  if (lda < max1(a_rows) || ldb < max1(b_rows) || ldc < max1(m)) return CUBLAS_STATUS_INVALID_VALUE;
  if (alpha == nullptr || beta == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (algo != CUBLAS_GEMM_DEFAULT) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (a_type != b_type || a_type != c_type) return CUBLAS_STATUS_NOT_SUPPORTED;
  const bool f64 = a_type == CUDA_R_64F;
  if (f64 ? compute != CUBLAS_COMPUTE_64F
          : compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32 &&
                compute != CUBLAS_COMPUTE_32F_FAST_16BF)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  const size_t element = f64 ? sizeof(double) : sizeof(float);
  check_inside_allocations({"A", a, a_rows, k == 0 ? 0 : a_cols, lda, stride_a}, batch, element);
  check_inside_allocations({"B", b, b_rows, b_cols, ldb, stride_b}, batch, element);
  check_inside_allocations({"C", c, m, n, ldc, stride_c}, batch, element);
  if (f64) {
    gemm<double, double>(transa, transb, m, n, k, *static_cast<const double*>(alpha),
                         static_cast<const double*>(a), lda, stride_a,
                         static_cast<const double*>(b), ldb, stride_b,
                         *static_cast<const double*>(beta), static_cast<double*>(c), ldc, stride_c,
                         batch, InputRounding::none);
  } else {
    gemm<float, float>(transa, transb, m, n, k, *static_cast<const float*>(alpha),
                       static_cast<const float*>(a), lda, stride_a, static_cast<const float*>(b),
                       ldb, stride_b, *static_cast<const float*>(beta), static_cast<float*>(c), ldc,
                       stride_c, batch,
                       compute == CUBLAS_COMPUTE_32F_FAST_TF32   ? InputRounding::tf32
                       : compute == CUBLAS_COMPUTE_32F_FAST_16BF ? InputRounding::bf16
                                                                 : InputRounding::none);
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* a, int lda, const float* b, int ldb, const float* beta,
                           float* c, int ldc) {
  return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, a, CUDA_R_32F, lda, 0,
                                    b, CUDA_R_32F, ldb, 0, beta, c, CUDA_R_32F, ldc, 0, 1,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}
