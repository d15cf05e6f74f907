#pragma once
// Shared by the CUDA tests: skipping without a device, poisoned memory, and comparisons of a
// CUDA result with a CPU one.

#include <gtest/gtest.h>

#include <string>

#include "onestep/engine.h"

// Every CUDA test starts with this: without a device the test is reported as skipped (ctest's
// SKIP_REGULAR_EXPRESSION turns gtest's "[  SKIPPED ]" into a skipped test, not a pass).
#define ONESTEP_REQUIRE_CUDA()                                           \
  do {                                                                   \
    if (!::onestep::cuda::available())                                   \
      GTEST_SKIP() << "no usable CUDA device: "                          \
                   << ::onestep::cuda::unavailable_reason();             \
  } while (0)

namespace onestep::cuda_testing {

inline Device gpu() {
  return Device::cuda(0);
}

// The value each poisoned byte pattern reads as: allocations are filled with 0xFF bytes when
// ONESTEP_CUDA_POISON=1 (set for every test binary by cuda_test_util.cpp), which is NaN in f32
// and f64 and -1 in i64.
constexpr int64_t kPoisonI64 = -1;

// A fresh device tensor whose every element is a value no kernel produces by accident: NaN for
// floating dtypes, kSentinel for i64. Used as the output of direct backend calls, so that an
// element a kernel fails to write is caught.
constexpr int64_t kSentinel = -7777777;
Tensor poisoned(const Shape& shape, DType dtype, Device device = gpu());

// Compares element by element, in f64, on the host: |actual - expected| <= atol + rtol *
// |expected|; NaN matches only NaN and infinities only themselves. Returns "" when every
// element passes, else the first mismatch and the largest error.
std::string compare(const Tensor& actual, const Tensor& expected, double atol, double rtol);

// Exact equality, bit patterns aside (NaN == NaN, -0 == 0).
inline std::string compare_exact(const Tensor& actual, const Tensor& expected) {
  return compare(actual, expected, 0.0, 0.0);
}

// Input values that stress edge cases of elementwise ops: zeros, tiny and huge magnitudes,
// both infinities and NaN, followed by n random normals scaled by `scale`.
Tensor special_values(int64_t n, DType dtype, Rng& gen, double scale = 3.0);

}  // namespace onestep::cuda_testing
