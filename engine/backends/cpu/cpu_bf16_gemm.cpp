// The bfloat16 GEMM of cpu_bf16_gemm.h. Loop nest as cpu_sgemm.cpp's:
//   for each block of 64 columns of B / C          (threads split these when not nested)
//     for each slice of kDepthBlock rows of B      (rounded and packed in pairs, in L2)
//       for each panel of 6 rows of A              (its slice stays in L1)
//         micro-kernel: C[6 x 64] (+)= A-panel slice * B-panel
// A packed word holds elements k (low half) and k + 1 (high half) of an even k; an odd depth
// ends in a zero high half in both operands.

#include "cpu_bf16_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gemm_tile.h"
#include "parallel.h"

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace onestep::cpu_backend::bf16_gemm {

namespace {

using gemm_tile::ceil_div;

constexpr int64_t kBlockCols = 64;
constexpr int64_t kLanes = 16;           // float32 lanes of C per vector
constexpr int64_t kDepthBlock = 1024;    // even; A slice 12 KiB (L1), B panel 128 KiB (L2)

uint32_t bits_of(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

float float_of(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// The float32 bits of the rounded value, in the high half (the low half is garbage).
uint32_t rounded_bits(uint32_t bits) {
  const bool nan = (bits & 0x7FFFFFFFu) > 0x7F800000u;
  // A NaN whose payload sits in the low half only would round to infinity: set the quiet bit.
  return nan ? bits | 0x00400000u : bits + 0x7FFFu + ((bits >> 16) & 1u);
}

uint32_t pair_of(float low, float high) {
  return (rounded_bits(bits_of(high)) & 0xFFFF0000u) | (rounded_bits(bits_of(low)) >> 16);
}

// Packs B[k0 .. k0+depth) x [j0 .. j0+width) into panel[pair][0 .. 64), zero beyond width (so
// the kernel can read whole vectors) and in the high half past the last row.
void pack_rhs(const float* b, int64_t row_stride, int64_t col_stride, int64_t k0, int64_t depth,
              int64_t j0, int64_t width, uint32_t* panel) {
  const int64_t pairs = ceil_div(depth, 2);
  if (col_stride == 1) {
    for (int64_t p = 0; p < pairs; ++p) {
      uint32_t* out = panel + p * kBlockCols;
      const float* low = b + (k0 + 2 * p) * row_stride + j0;
      if (2 * p + 1 < depth) {
        const float* high = low + row_stride;
        for (int64_t j = 0; j < width; ++j) out[j] = pair_of(low[j], high[j]);  // vectorised
      } else {
        for (int64_t j = 0; j < width; ++j) out[j] = pair_of(low[j], 0.0f);
      }
      std::fill(out + width, out + kBlockCols, 0u);
    }
    return;
  }
  for (int64_t j = 0; j < width; ++j) {  // a transposed B: read its columns in order
    const float* src = b + (j0 + j) * col_stride + k0 * row_stride;
    for (int64_t p = 0; p < pairs; ++p) {
      const float high = 2 * p + 1 < depth ? src[(2 * p + 1) * row_stride] : 0.0f;
      panel[p * kBlockCols + j] = pair_of(src[2 * p * row_stride], high);
    }
  }
  for (int64_t p = 0; p < pairs; ++p)
    std::fill(panel + p * kBlockCols + width, panel + (p + 1) * kBlockCols, 0u);
}

#if defined(__AVX512BF16__)

// C[R x V vectors of 16] (+)= A-panel[pairs x 6] (first R rows) * B-panel[pairs x 64]; the last
// vector of each row of C writes only the lanes in `tail`.
template <int R, int V>
void micro_kernel(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc,
                  bool accumulate, __mmask16 tail) {
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    __m512bh bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v)
      bv[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * kBlockCols + kLanes * v));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512bh av = reinterpret_cast<__m512bh>(
          _mm512_set1_epi32(static_cast<int>(a[p * kPanelRows + r])));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __mmask16 mask = v == V - 1 ? tail : static_cast<__mmask16>(0xFFFF);
      float* out = c + r * ldc + kLanes * v;
      __m512 sum = acc[r][v];
      if (accumulate) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, out));
      _mm512_mask_storeu_ps(out, mask, sum);
    }
}

using Kernel = void (*)(int64_t, const uint32_t*, const uint32_t*, float*, int64_t, bool,
                        __mmask16);

void run_tile(int64_t rows, int64_t width, int64_t pairs, const uint32_t* a, const uint32_t* b,
              float* c, int64_t ldc, bool accumulate) {
  const int64_t vectors = ceil_div(width, kLanes);
  const int64_t tail_lanes = width - (vectors - 1) * kLanes;
  const Kernel kernel = gemm_tile::for_tile(rows, vectors, [](auto r, auto v) -> Kernel {
    return micro_kernel<decltype(r)::value, decltype(v)::value>;
  });
  kernel(pairs, a, b, c, ldc, accumulate, static_cast<__mmask16>((1u << tail_lanes) - 1u));
}

#else

float low_of(uint32_t pair) { return float_of(pair << 16); }
float high_of(uint32_t pair) { return float_of(pair & 0xFFFF0000u); }

// The same products in float32 multiply-adds, high half first as vdpbf16ps adds them.
void run_tile(int64_t rows, int64_t width, int64_t pairs, const uint32_t* a, const uint32_t* b,
              float* c, int64_t ldc, bool accumulate) {
  float acc[kPanelRows][kBlockCols] = {};
  for (int64_t p = 0; p < pairs; ++p) {
    const uint32_t* bp = b + p * kBlockCols;
    for (int64_t r = 0; r < rows; ++r) {
      const float a_low = low_of(a[p * kPanelRows + r]), a_high = high_of(a[p * kPanelRows + r]);
      float* row = acc[r];
      for (int64_t j = 0; j < kBlockCols; ++j)  // vectorised
        row[j] = std::fma(a_low, low_of(bp[j]), std::fma(a_high, high_of(bp[j]), row[j]));
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < width; ++j)
      c[r * ldc + j] = accumulate ? c[r * ldc + j] + acc[r][j] : acc[r][j];
}

#endif

constexpr int64_t kDotRows = 6, kDotCols = 4;
constexpr int64_t kDotDepthBlock = 2048;  // 6 rows of A: 24 KiB, kept in L1 across B's rows

#if defined(__AVX512BF16__)

// C[R x S] += A[R x depth] B[S x depth]^T: 16 pairs of each dot product per step, summed
// across lanes at the end; 24 accumulators, 10 loads per 24 vdpbf16ps.
template <int R, int S>
void dot_kernel(int64_t depth, const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb,
                float* c, int64_t ldc) {
  __m512 acc[R][S];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < S; ++t) acc[r][t] = _mm512_setzero_ps();
  auto step = [&](int64_t p, const auto& load) {
    __m512bh bv[S];
#pragma GCC unroll 4
    for (int t = 0; t < S; ++t) bv[t] = load(b + t * ldb + p);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512bh av = load(a + r * lda + p);
#pragma GCC unroll 4
      for (int t = 0; t < S; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], av, bv[t]);
    }
  };
  constexpr int64_t kStep = 2 * kLanes;  // bfloat16 elements per vector
  int64_t p = 0;
  for (; p + kStep <= depth; p += kStep)
    step(p, [](const uint16_t* q) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(q)); });
  if (p < depth) {
    const __mmask16 tail = static_cast<__mmask16>((1u << ((depth - p) / 2)) - 1u);
    step(p, [tail](const uint16_t* q) {
      return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi32(tail, q));
    });
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < S; ++t) c[r * ldc + t] += _mm512_reduce_add_ps(acc[r][t]);
}

using DotKernel = void (*)(int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, float*,
                           int64_t);

void dot_tile(int64_t rows, int64_t cols, int64_t depth, const uint16_t* a, int64_t lda,
              const uint16_t* b, int64_t ldb, float* c, int64_t ldc) {
  gemm_tile::for_tile(rows, cols, [](auto r, auto t) -> DotKernel {
    return dot_kernel<decltype(r)::value, decltype(t)::value>;
  })(depth, a, lda, b, ldb, c, ldc);
}

#else

float widened(uint16_t v) { return float_of(static_cast<uint32_t>(v) << 16); }

// The same sums in float32 multiply-adds, lane by lane as the instruction forms them.
void dot_tile(int64_t rows, int64_t cols, int64_t depth, const uint16_t* a, int64_t lda,
              const uint16_t* b, int64_t ldb, float* c, int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < cols; ++t) {
      float lanes[kLanes] = {};
      for (int64_t p = 0; p < depth; p += 2) {
        float& lane = lanes[(p / 2) % kLanes];
        lane = std::fma(widened(a[r * lda + p]), widened(b[t * ldb + p]),
                        std::fma(widened(a[r * lda + p + 1]), widened(b[t * ldb + p + 1]), lane));
      }
      float sum = 0;
      for (float lane : lanes) sum += lane;
      c[r * ldc + t] += sum;
    }
}

#endif

// One B panel per thread.
uint32_t* rhs_panel() { return gemm_tile::thread_panel<uint32_t, kDepthBlock / 2 * kBlockCols>(); }

}  // namespace

float round_to_bf16(float value) { return float_of(rounded_bits(bits_of(value)) & 0xFFFF0000u); }

int64_t packed_lhs_size(int64_t rows, int64_t depth) {
  return ceil_div(rows, kPanelRows) * kPanelRows * ceil_div(depth, 2);
}

void pack_lhs(const float* a, int64_t rows, int64_t depth, int64_t row_stride,
              int64_t depth_stride, uint32_t* packed) {
  const int64_t pairs = ceil_div(depth, 2);
  for (int64_t panel = 0; panel * kPanelRows < rows; ++panel) {
    uint32_t* out = packed + panel * kPanelRows * pairs;
    const int64_t first = panel * kPanelRows, count = std::min(kPanelRows, rows - first);
    for (int64_t p = 0; p < pairs; ++p) {
      uint32_t* slot = out + p * kPanelRows;
      int64_t r = 0;
      for (; r < count; ++r) {
        const float* row = a + (first + r) * row_stride;
        const float high = 2 * p + 1 < depth ? row[(2 * p + 1) * depth_stride] : 0.0f;
        slot[r] = pair_of(row[2 * p * depth_stride], high);
      }
      for (; r < kPanelRows; ++r) slot[r] = 0u;
    }
  }
}

void round_rows(const float* x, int64_t rows, int64_t cols, int64_t ldx, uint16_t* out,
                int64_t ld_out) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = x + i * ldx;
    uint16_t* dst = out + i * ld_out;
    for (int64_t j = 0; j < cols; ++j)  // vectorised
      dst[j] = static_cast<uint16_t>(rounded_bits(bits_of(row[j])) >> 16);
    if (cols % 2 != 0) dst[cols] = 0;
  }
}

void multiply_add_transposed(const uint16_t* a, int64_t rows, int64_t lda, const uint16_t* b,
                             int64_t cols, int64_t ldb, int64_t depth, float* c, int64_t ldc) {
  gemm_tile::for_each_dot_tile<kDotRows, kDotCols, kDotDepthBlock>(
      rows, cols, depth,
      [&](int64_t r, int64_t s, int64_t pc, int64_t i0, int64_t j0, int64_t p0) {
        dot_tile(r, s, pc, a + i0 * lda + p0, lda, b + j0 * ldb + p0, ldb, c + i0 * ldc + j0,
                 ldc);
      });
}

void multiply(const uint32_t* packed_a, int64_t rows, int64_t depth, const float* b,
              int64_t b_row_stride, int64_t b_col_stride, int64_t cols, float* c, int64_t ldc,
              bool accumulate) {
  if (rows == 0 || cols == 0) return;
  if (depth == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < rows; ++i) std::fill(c + i * ldc, c + i * ldc + cols, 0.0f);
    return;
  }
  const int64_t pairs = ceil_div(depth, 2);
  parallel_for(0, ceil_div(cols, kBlockCols), 1, [&](int64_t lo, int64_t hi) {
    uint32_t* panel = rhs_panel();
    for (int64_t jb = lo; jb < hi; ++jb) {
      const int64_t j0 = jb * kBlockCols, width = std::min(kBlockCols, cols - j0);
      for (int64_t k0 = 0; k0 < depth; k0 += kDepthBlock) {
        const int64_t kc = std::min(kDepthBlock, depth - k0);
        pack_rhs(b, b_row_stride, b_col_stride, k0, kc, j0, width, panel);
        const bool add = accumulate || k0 > 0;
        for (int64_t i0 = 0; i0 < rows; i0 += kPanelRows)
          run_tile(std::min(kPanelRows, rows - i0), width, ceil_div(kc, 2),
                   packed_a + i0 * pairs + k0 / 2 * kPanelRows, panel, c + i0 * ldc + j0, ldc,
                   add);
      }
    }
  });
}

}  // namespace onestep::cpu_backend::bf16_gemm
