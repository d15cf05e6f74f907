#pragma once
// Single-precision GEMM with its own micro-kernels, for the convolutions. Eigen's GEMM reaches
// ~63 % of an AVX-512 machine's FMA peak and re-packs the weights for every sample; here the
// weights are packed once per convolution and the kernel keeps a 6 x 64 block of C in 24
// registers (AVX-512) or a 6 x 16 block in 12 (AVX2 + FMA, 16 registers). Built where the
// compiler targets either (-march=native on such a CPU); elsewhere kAvailable is false,
// multiply() is not defined and the convolutions use Eigen.

#include <cstdint>

namespace onestep::cpu_backend::sgemm {

constexpr int64_t kPanelRows = 6;   // rows of A (and C) per micro-kernel call
constexpr int64_t kBlockCols = 64;  // columns of B (and C) per micro-kernel call

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define ONESTEP_CPU_SGEMM 1
constexpr bool kAvailable = true;
#else
#define ONESTEP_CPU_SGEMM 0
constexpr bool kAvailable = false;
#endif

// Floats that pack_lhs writes for an A of rows x depth.
int64_t packed_lhs_size(int64_t rows, int64_t depth);

// Packs A (rows x depth, element (i, k) at a[i * row_stride + k * depth_stride]) into panels of
// kPanelRows rows, zero-padded, for multiply().
void pack_lhs(const float* a, int64_t rows, int64_t depth, int64_t row_stride, int64_t depth_stride,
              float* packed);

// C (rows x cols, row-major with leading dimension ldc) = A B, or += A B when accumulate.
// A is packed; B is depth x cols with element (k, j) at b[k * b_row_stride + j * b_col_stride]
// (either stride may be 1). Single-threaded inside a parallel region, threaded over column
// blocks outside one.
void multiply(const float* packed_a, int64_t rows, int64_t depth, const float* b,
              int64_t b_row_stride, int64_t b_col_stride, int64_t cols, float* c, int64_t ldc,
              bool accumulate);

// Floats of a B of depth x cols in column blocks (multiply_blocked).
int64_t blocked_rhs_size(int64_t depth, int64_t cols);

// As multiply(), with B stored in column blocks: columns [64 jb, 64 jb + 64) form a depth x 64
// row-major block at b + jb * depth * 64 (the last block is 64 wide too; its extra columns are
// never used). A producer that writes this layout (the convolution's im2col) saves the GEMM its
// packing pass.
void multiply_blocked(const float* packed_a, int64_t rows, int64_t depth, const float* b,
                      int64_t cols, float* c, int64_t ldc, bool accumulate);

// C (rows x cols, leading dimension ldc) += A B^T, where A (rows x depth) and B (cols x depth)
// are row-major with leading dimensions lda and ldb: dot products along contiguous rows, so
// neither operand is packed or transposed (a convolution's weight gradient: column matrix times
// output gradient, both pixel-contiguous). Threaded over rows outside a parallel region.
void multiply_add_transposed(const float* a, int64_t rows, int64_t lda, const float* b,
                             int64_t cols, int64_t ldb, int64_t depth, float* c, int64_t ldc);

}  // namespace onestep::cpu_backend::sgemm
