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

namespace onestep::cpu::bf16_gemm {

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

}  // namespace onestep::cpu::bf16_gemm
