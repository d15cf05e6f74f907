#pragma once
// What the float32 and bfloat16 GEMMs (cpu_sgemm.h, cpu_bf16_gemm.h) share: their micro-kernels
// are unrolled over a tile of up to 6 rows and 4 vectors (or rows of B), fixed at compile time.

#include <cstdint>
#include <type_traits>

namespace onestep::cpu::gemm_tile {

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

}  // namespace onestep::cpu::gemm_tile
