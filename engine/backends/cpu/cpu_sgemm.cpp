// The blocked single-precision GEMM of cpu_sgemm.h. Loop nest (BLIS order, minus the outermost
// row blocking: A's panels are small enough to stream from L2):
//   for each block of 64 columns of B / C        (threads split these when not nested)
//     for each slice of kDepthBlock rows of B    (packed to a contiguous 64-wide panel, in L2)
//       for each panel of 6 rows of A            (its slice stays in L1)
//         micro-kernel: C[6 x 64] (+)= A-panel slice * B-panel

#include "cpu_sgemm.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "gemm_tile.h"
#include "parallel.h"

#if ONESTEP_CPU_SGEMM
#include <immintrin.h>
#endif

namespace onestep::cpu_backend::sgemm {

namespace {

constexpr int64_t kPanelCols = kBlockCols;  // 4 vectors
constexpr int64_t kDepthBlock = 512;        // A slice 12 KiB (L1), B panel 128 KiB (L2)
constexpr int64_t kInPlaceMaxRowStride = 256;

using gemm_tile::ceil_div;

}  // namespace

int64_t blocked_rhs_size(int64_t depth, int64_t cols) {
  return ceil_div(cols, kBlockCols) * kBlockCols * depth;
}

int64_t packed_lhs_size(int64_t rows, int64_t depth) {
  return ceil_div(rows, kPanelRows) * kPanelRows * depth;
}

void pack_lhs(const float* a, int64_t rows, int64_t depth, int64_t row_stride, int64_t depth_stride,
              float* packed) {
  for (int64_t panel = 0; panel * kPanelRows < rows; ++panel) {
    float* out = packed + panel * kPanelRows * depth;
    const int64_t first = panel * kPanelRows, count = std::min(kPanelRows, rows - first);
    for (int64_t k = 0; k < depth; ++k) {
      float* slot = out + k * kPanelRows;
      int64_t r = 0;
      for (; r < count; ++r) slot[r] = a[(first + r) * row_stride + k * depth_stride];
      for (; r < kPanelRows; ++r) slot[r] = 0.0f;
    }
  }
}

#if ONESTEP_CPU_SGEMM

namespace {

// The vector registers the kernels are written in: 16-lane AVX-512, or 8-lane AVX2 + FMA.
#if defined(__AVX512F__)
struct Simd {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int64_t kLanes = 16;
  // Vectors per row of the GEMM micro-kernel (6 rows: 24 of the 32 registers accumulate) and
  // rows of the dot kernel (6 x 4 accumulators).
  static constexpr int64_t kKernelVectors = 4;
  static constexpr int64_t kDotRows = 6;
  static Mask first(int64_t lanes) {
    return lanes >= kLanes ? static_cast<Mask>(0xFFFF) : static_cast<Mask>((1u << lanes) - 1u);
  }
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float v) { return _mm512_set1_ps(v); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Reg v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static float sum(Reg v) { return _mm512_reduce_add_ps(v); }
};
#else
struct Simd {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr int64_t kLanes = 8;
  // 16 registers: 6 rows x 2 vectors accumulate, 2 hold B and 1 the broadcast of A; the dot
  // kernel keeps 3 x 4 accumulators.
  static constexpr int64_t kKernelVectors = 2;
  static constexpr int64_t kDotRows = 3;
  static Mask first(int64_t lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min(lanes, kLanes))),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float v) { return _mm256_set1_ps(v); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Reg v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static float sum(Reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
#endif

// Columns of C one micro-kernel call covers.
constexpr int64_t kTileCols = Simd::kLanes * Simd::kKernelVectors;

}  // namespace

namespace {

// Copies B[k0 .. k0+depth) x [j0 .. j0+width) (element (k, j) at b[k * row_stride +
// j * col_stride]) into panel[k][0 .. width).
void pack_rhs(const float* b, int64_t row_stride, int64_t col_stride, int64_t k0, int64_t depth,
              int64_t j0, int64_t width, float* panel) {
  if (col_stride == 1) {
    for (int64_t k = 0; k < depth; ++k)
      std::memcpy(panel + k * kPanelCols, b + (k0 + k) * row_stride + j0, width * sizeof(float));
    return;
  }
  for (int64_t j = 0; j < width; ++j) {  // a transposed B: read its columns in order
    const float* src = b + (j0 + j) * col_stride + k0 * row_stride;
    for (int64_t k = 0; k < depth; ++k) panel[k * kPanelCols + j] = src[k * row_stride];
  }
}

using gemm_tile::for_tile;

// C[R x V vectors] (+)= A-panel[depth x 6] (first R rows) * B[depth x V vectors] (rows ldb
// apart); the last vector of each row of B and C reads and writes only the lanes in `tail`.
template <int R, int V>
void micro_kernel(int64_t depth, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                  bool accumulate, Simd::Mask tail) {
  constexpr int64_t L = Simd::kLanes;
  Simd::Reg acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = Simd::zero();
  for (int64_t k = 0; k < depth; ++k) {
    Simd::Reg bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v)
      bv[v] = v == V - 1 ? Simd::load(b + k * ldb + L * v, tail) : Simd::load(b + k * ldb + L * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Simd::Reg av = Simd::set1(a[k * kPanelRows + r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = Simd::fmadd(av, bv[v], acc[r][v]);
    }
  }
  const Simd::Mask all = Simd::first(L);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const Simd::Mask mask = v == V - 1 ? tail : all;
      float* p = c + r * ldc + L * v;
      Simd::Reg out = acc[r][v];
      if (accumulate) out = Simd::add(out, Simd::load(p, mask));
      Simd::store(p, out, mask);
    }
}

using Kernel = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, bool,
                        Simd::Mask);

Kernel kernel_for(int64_t rows, int64_t vectors) {
  return for_tile(rows, vectors, [](auto r, auto v) -> Kernel {
    return micro_kernel<decltype(r)::value, decltype(v)::value>;
  });
}

// One B panel per thread.
float* rhs_panel() { return gemm_tile::thread_panel<float, kDepthBlock * kPanelCols>(); }

// The micro-kernel calls for rows x [0, width) of C (width <= 64) over all of depth.
// `slice_of(k0, kc)` returns depth rows [k0, k0 + kc) of the matching columns of B and their
// row stride, packing them first if it must.
template <class SliceOf>
void column_block(const float* packed_a, int64_t rows, int64_t depth, int64_t width, float* c,
                  int64_t ldc, bool accumulate, const SliceOf& slice_of) {
  for (int64_t k0 = 0; k0 < depth; k0 += kDepthBlock) {
    const int64_t kc = std::min(kDepthBlock, depth - k0);
    const auto [slice, ldb] = slice_of(k0, kc);
    const bool add = accumulate || k0 > 0;
    for (int64_t i0 = 0; i0 < rows; i0 += kPanelRows) {
      const int64_t r = std::min(kPanelRows, rows - i0);
      // One call per kTileCols columns: all 64 with AVX-512, 16 at a time with AVX2.
      for (int64_t j0 = 0; j0 < width; j0 += kTileCols) {
        const int64_t tile = std::min(kTileCols, width - j0);
        const int64_t vectors = ceil_div(tile, Simd::kLanes);
        kernel_for(r, vectors)(kc, packed_a + i0 * depth + k0 * kPanelRows, slice + j0, ldb,
                               c + i0 * ldc + j0, ldc, add,
                               Simd::first(tile - (vectors - 1) * Simd::kLanes));
      }
    }
  }
}

// Runs block(j0, width) for every 64-column block of cols, over threads outside a parallel
// region.
template <class Block>
void for_each_column_block(int64_t cols, const Block& block) {
  parallel_for(0, ceil_div(cols, kBlockCols), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t jb = lo; jb < hi; ++jb)
      block(jb * kBlockCols, std::min(kBlockCols, cols - jb * kBlockCols));
  });
}

void zero_rows(float* c, int64_t rows, int64_t cols, int64_t ldc) {
  for (int64_t i = 0; i < rows; ++i) std::fill(c + i * ldc, c + i * ldc + cols, 0.0f);
}

// C[R x S] += A[R x depth] B[S x depth]^T: a vector of lanes of each dot product per step,
// summed across lanes at the end. AVX-512: 24 accumulators, 10 loads per 24 FMAs; AVX2: 12, 7
// loads per 12 FMAs.
template <int R, int S>
void dot_kernel(int64_t depth, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                int64_t ldc) {
  constexpr int64_t L = Simd::kLanes;
  Simd::Reg acc[R][S];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < S; ++t) acc[r][t] = Simd::zero();
  auto step = [&](int64_t p, const auto& load) {
    Simd::Reg bv[S];
#pragma GCC unroll 4
    for (int t = 0; t < S; ++t) bv[t] = load(b + t * ldb + p);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Simd::Reg av = load(a + r * lda + p);
#pragma GCC unroll 4
      for (int t = 0; t < S; ++t) acc[r][t] = Simd::fmadd(av, bv[t], acc[r][t]);
    }
  };
  int64_t p = 0;
  for (; p + L <= depth; p += L) step(p, [](const float* q) { return Simd::load(q); });
  if (p < depth) {
    const Simd::Mask tail = Simd::first(depth - p);
    step(p, [&](const float* q) { return Simd::load(q, tail); });
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < S; ++t) c[r * ldc + t] += Simd::sum(acc[r][t]);
}

using DotKernel = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t);

DotKernel dot_kernel_for(int64_t rows, int64_t cols) {
  return for_tile(rows, cols, [](auto r, auto c) -> DotKernel {
    return dot_kernel<decltype(r)::value, decltype(c)::value>;
  });
}

constexpr int64_t kDotRows = Simd::kDotRows, kDotCols = 4;
constexpr int64_t kDotDepthBlock = 1024;  // 6 (3) rows of A: 24 (12) KiB, kept in L1 across B's rows

}  // namespace

void multiply_add_transposed(const float* a, int64_t rows, int64_t lda, const float* b,
                             int64_t cols, int64_t ldb, int64_t depth, float* c, int64_t ldc) {
  gemm_tile::for_each_dot_tile<kDotRows, kDotCols, kDotDepthBlock>(
      rows, cols, depth,
      [&](int64_t r, int64_t s, int64_t pc, int64_t i0, int64_t j0, int64_t p0) {
        dot_kernel_for(r, s)(pc, a + i0 * lda + p0, lda, b + j0 * ldb + p0, ldb,
                             c + i0 * ldc + j0, ldc);
      });
}

void multiply(const float* packed_a, int64_t rows, int64_t depth, const float* b,
              int64_t b_row_stride, int64_t b_col_stride, int64_t cols, float* c, int64_t ldc,
              bool accumulate) {
  if (rows == 0 || cols == 0) return;
  if (depth == 0) {
    if (!accumulate) zero_rows(c, rows, cols, ldc);
    return;
  }
  // Row-major B with short rows is read in place. Longer rows are packed, one depth slice at a
  // time: rows 4 KiB apart (32x32 images) all fall into the same L1 sets and measured at half
  // speed in place (padding the rows to break that still left it 10 % slower than packing).
  // A transposed B is always packed.
  const bool in_place = b_col_stride == 1 && b_row_stride <= kInPlaceMaxRowStride;
  for_each_column_block(cols, [&](int64_t j0, int64_t width) {
    float* panel = in_place ? nullptr : rhs_panel();
    column_block(packed_a, rows, depth, width, c + j0, ldc, accumulate,
                 [&](int64_t k0, int64_t kc) -> std::pair<const float*, int64_t> {
                   if (in_place) return {b + k0 * b_row_stride + j0, b_row_stride};
                   pack_rhs(b, b_row_stride, b_col_stride, k0, kc, j0, width, panel);
                   return {panel, kPanelCols};
                 });
  });
}

void multiply_blocked(const float* packed_a, int64_t rows, int64_t depth, const float* b,
                      int64_t cols, float* c, int64_t ldc, bool accumulate) {
  if (rows == 0 || cols == 0) return;
  if (depth == 0) {
    if (!accumulate) zero_rows(c, rows, cols, ldc);
    return;
  }
  for_each_column_block(cols, [&](int64_t j0, int64_t width) {
    const float* block = b + (j0 / kBlockCols) * depth * kBlockCols;
    column_block(packed_a, rows, depth, width, c + j0, ldc, accumulate,
                 [&](int64_t k0, int64_t) -> std::pair<const float*, int64_t> {
                   return {block + k0 * kBlockCols, kBlockCols};
                 });
  });
}

#endif

}  // namespace onestep::cpu_backend::sgemm
