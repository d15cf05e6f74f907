#pragma once
// GEMM with bfloat16 operands and float32 sums, for float32 convolutions and matrix products
// under MatmulPrecision::bf16 (onestep/engine/precision.h). Operands are rounded to bfloat16
// (nearest, ties to even; NaN stays NaN) while being packed, two consecutive depth elements to a
// 32-bit word, the layout of AVX512_BF16's vdpbf16ps, which adds two products to each float32
// lane per instruction: twice the multiply-adds of a float32 FMA. The micro-kernel keeps 6 x 64
// of C in 24 registers, as cpu_sgemm.h's does. Without AVX512_BF16 in the build the same packed
// operands go through a portable kernel of float32 multiply-adds: the same roundings (within
// float32 summation order), slower than fp32.

#include <cstdint>

namespace onestep::cpu_backend::bf16_gemm {

constexpr int64_t kPanelRows = 6;

// The float32 value nearest to `value` that bfloat16 holds (ties to even; NaN stays NaN).
float round_to_bf16(float value);

// 32-bit words pack_lhs writes for an A of rows x depth.
int64_t packed_lhs_size(int64_t rows, int64_t depth);

// Packs A (rows x depth, element (i, k) at a[i * row_stride + k * depth_stride]) for multiply().
void pack_lhs(const float* a, int64_t rows, int64_t depth, int64_t row_stride,
              int64_t depth_stride, uint32_t* packed);

// C (rows x cols, row-major with leading dimension ldc) = A B, or += A B when accumulate, with
// both operands rounded to bfloat16. A is packed; B is depth x cols with element (k, j) at
// b[k * b_row_stride + j * b_col_stride], rounded while it is packed. Single-threaded inside a
// parallel region, threaded over 64-column blocks outside one.
void multiply(const uint32_t* packed_a, int64_t rows, int64_t depth, const float* b,
              int64_t b_row_stride, int64_t b_col_stride, int64_t cols, float* c, int64_t ldc,
              bool accumulate);

// Rounds rows x cols of x (leading dimension ldx) to bfloat16 into out (leading dimension ld_out
// >= cols rounded up to even), with a zero after an odd cols: the operands of
// multiply_add_transposed. Rows of several calls may lie side by side in one wider out.
void round_rows(const float* x, int64_t rows, int64_t cols, int64_t ldx, uint16_t* out,
                int64_t ld_out);

// C (rows x cols, leading dimension ldc) += A B^T, A (rows x depth) and B (cols x depth) rounded
// by round_rows: dot products along contiguous rows, two depth elements per vdpbf16ps lane, so
// neither operand is packed (a convolution's weight gradient: column matrix times output
// gradient, both pixel-contiguous). depth is even (round_rows' zero pads an odd one). Threaded
// over rows outside a parallel region.
void multiply_add_transposed(const uint16_t* a, int64_t rows, int64_t lda, const uint16_t* b,
                             int64_t cols, int64_t ldb, int64_t depth, float* c, int64_t ldc);

}  // namespace onestep::cpu_backend::bf16_gemm
