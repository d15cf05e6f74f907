// Batched matmul on cuBLAS. cuBLAS is column-major and our matrices are row-major, so we ask it
// for C^T = B^T A^T: a row-major [M, N] result is a column-major [N, M] one with the same bytes.
// Each operand is passed as it lies in memory (row- or column-major, chosen from its strides),
// with cuBLAS's transpose flag doing the rest; only a layout neither form can express is copied.

#include <algorithm>

#include "cuda_backend.h"
#include "cuda_blas.h"

namespace onestep::cuda_backend {

namespace {

// The column-major form of the row-major rows x cols matrix X (strides rs, cs) as cuBLAS's
// operand op(X^T) of size cols x rows: stored row-major, X^T is X's bytes with ld = rs and no
// transpose; stored column-major, X's bytes are X itself with ld = cs, transposed. A dim of
// size 1 never steps, so its stride is free and ld only has to satisfy cuBLAS's ld >= rows.
bool as_transposed_operand(const void* data, int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                           int64_t batch_stride, GemmOperand& out) {
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<int64_t>(cols, 1))) {
    out = {data, rows == 1 ? std::max<int64_t>(cols, 1) : rs, batch_stride, false};
    return true;
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<int64_t>(rows, 1))) {
    out = {data, cols == 1 ? std::max<int64_t>(rows, 1) : cs, batch_stride, true};
    return true;
  }
  return false;
}

}  // namespace

void CudaBackend::matmul(const Tensor& a, const Tensor& bm, const Tensor& out) {
  const int64_t batch = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  dispatch_floating(out.dtype(), "matmul", [](auto) {});
  if (batch == 0 || M == 0 || N == 0) return;
  activate();
  if (K == 0) return fill(out, 0.0);
  const size_t element = dtype_size(out.dtype());

  // Operands whose layout cuBLAS cannot take (no unit stride) are copied to contiguous scratch.
  // ops/linalg.cpp already avoids them; this keeps the backend correct for any caller.
  std::unique_ptr<Scratch> scratch_a, scratch_b;
  auto operand = [&](const Tensor& t, int64_t rows, int64_t cols, std::unique_ptr<Scratch>& keep) {
    const auto& s = t.strides();
    const int64_t batch_stride = t.size(0) == 1 ? 0 : s[0];
    GemmOperand op;
    if (as_transposed_operand(t.raw_data(), rows, cols, s[1], s[2], batch_stride, op)) return op;
    keep = std::make_unique<Scratch>(*this, static_cast<size_t>(t.numel()) * element);
    const Tensor dense =
        Tensor::from_blob(keep->get<void>(), t.shape(), t.dtype(), Device::cuda(device_));
    copy(t, dense);
    as_transposed_operand(dense.raw_data(), rows, cols, cols, 1,
                          batch_stride == 0 ? 0 : rows * cols, op);
    return op;
  };
  const GemmOperand op_b = operand(bm, K, N, scratch_b);
  const GemmOperand op_a = operand(a, M, K, scratch_a);
  // Column-major: C^T [N, M] = B^T [N, K] @ A^T [K, M].
  gemm_strided_batched(*this, out.dtype(), N, M, K, op_b, op_a, out.raw_data(), N, M * N, batch,
                       0.0);
}

}  // namespace onestep::cuda_backend
