#pragma once
// What the float32 and bfloat16 GEMMs (cpu_sgemm.h, cpu_bf16_gemm.h) share: their micro-kernels
// are unrolled over a tile of up to 6 rows and 4 vectors (or rows of B), fixed at compile time.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <type_traits>

#include "parallel.h"

namespace onestep::cpu_backend::gemm_tile {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Returns pick(R, C), R and C as std::integral_constant, for a tile of rows x cols (larger sizes
// take the largest kernel, 6 x 4).
template <class Pick>
auto for_tile(int64_t rows, int64_t cols, const Pick& pick) {
  auto with_rows = [&](auto r) {
    switch (cols) {
      case 1:
        return pick(r, std::integral_constant<int, 1>{});
      case 2:
        return pick(r, std::integral_constant<int, 2>{});
      case 3:
        return pick(r, std::integral_constant<int, 3>{});
      default:
        return pick(r, std::integral_constant<int, 4>{});
    }
  };
  switch (rows) {
    case 1:
      return with_rows(std::integral_constant<int, 1>{});
    case 2:
      return with_rows(std::integral_constant<int, 2>{});
    case 3:
      return with_rows(std::integral_constant<int, 3>{});
    case 4:
      return with_rows(std::integral_constant<int, 4>{});
    case 5:
      return with_rows(std::integral_constant<int, 5>{});
    default:
      return with_rows(std::integral_constant<int, 6>{});
  }
}

// kCount elements of T per thread, 64-byte aligned, allocated on first use and kept (the pool's
// threads live on): a GEMM's packed panel of B.
template <class T, int64_t kCount>
T* thread_panel() {
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<T, Free> panel(
      static_cast<T*>(std::aligned_alloc(64, kCount * sizeof(T))));
  return panel.get();
}

// The dot-product form C (rows x cols) += A B^T, both along contiguous rows: calls
// tile(r, c, pc, i0, j0, p0) for every tile of at most kRows x kCols of C and slice
// [p0, p0 + pc) of the depth (kDepthBlock long, so that kRows rows of A stay in L1 across B's
// rows), rows split over threads outside a parallel region.
template <int64_t kRows, int64_t kCols, int64_t kDepthBlock, class Tile>
void for_each_dot_tile(int64_t rows, int64_t cols, int64_t depth, const Tile& tile) {
  parallel_for(0, ceil_div(rows, kRows), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t p0 = 0; p0 < depth; p0 += kDepthBlock) {
      const int64_t pc = std::min(kDepthBlock, depth - p0);
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t i0 = t * kRows, r = std::min(kRows, rows - i0);
        for (int64_t j0 = 0; j0 < cols; j0 += kCols)
          tile(r, std::min(kCols, cols - j0), pc, i0, j0, p0);
      }
    }
  });
}

}  // namespace onestep::cpu_backend::gemm_tile
