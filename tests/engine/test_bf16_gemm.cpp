// The bfloat16 GEMM (engine/backends/cpu/cpu_bf16_gemm.h) on its own: its rounding, exact
// products of operands bfloat16 holds, and float operands against a float64 reference.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu_bf16_gemm.h"

namespace onestep::cpu_backend::bf16_gemm {
namespace {

float from_bits(uint32_t bits) {
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// An independent rounding for the references: 8 significant bits by frexp, ties to even.
double to_bf16_reference(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  int e = 0;
  const double m = std::frexp(v, &e);  // |m| in [0.5, 1)
  return std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8);
}

TEST(Bf16Gemm, RoundsToNearestEvenAndKeepsNaNAndInfinity) {
  const float one = 1.0f, ulp = std::ldexp(1.0f, -7);
  EXPECT_EQ(round_to_bf16(one), one);
  EXPECT_EQ(round_to_bf16(one + ulp / 2), one);                         // tie: to even
  EXPECT_EQ(round_to_bf16(one + 3 * ulp / 2), one + 2 * ulp);           // tie: to even
  EXPECT_EQ(round_to_bf16(one + ulp / 2 + std::ldexp(1.0f, -20)), one + ulp);
  EXPECT_EQ(round_to_bf16(-(one + ulp / 2 + std::ldexp(1.0f, -20))), -(one + ulp));
  EXPECT_EQ(round_to_bf16(std::numeric_limits<float>::max()), INFINITY);
  EXPECT_EQ(round_to_bf16(INFINITY), INFINITY);
  EXPECT_EQ(round_to_bf16(-INFINITY), -INFINITY);
  EXPECT_TRUE(std::isnan(round_to_bf16(from_bits(0x7F800001u))));  // payload in the low half
  EXPECT_TRUE(std::isnan(round_to_bf16(std::nanf(""))));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 100.0f);
  for (int i = 0; i < 100000; ++i) {
    const float v = normal(rng);
    ASSERT_EQ(round_to_bf16(v), static_cast<float>(to_bf16_reference(v))) << v;
  }
}

struct Case {
  int64_t rows, depth, cols;
  bool transposed_b, accumulate;
};

// Shapes with partial 6-row panels, partial 16-lane vectors and 64-column blocks, odd depths
// (a zero high half) and several 1024-deep slices.
const Case kCases[] = {
    {1, 1, 1, false, false},     {7, 3, 17, false, false},   {6, 64, 64, true, false},
    {13, 1025, 65, false, true}, {5, 2051, 130, true, true}, {12, 1024, 16, false, false},
    {2, 17, 200, true, false},   {25, 576, 100, false, true},
};

struct Operands {
  std::vector<float> a, b, c;  // A rows x depth row-major; B as stored; C rows x cols
  int64_t b_row_stride, b_col_stride;
};

template <class Draw>
Operands make(const Case& t, Draw draw) {
  Operands o;
  o.a.resize(t.rows * t.depth);
  o.b.resize(t.depth * t.cols);
  o.c.resize(t.rows * t.cols);
  for (float& v : o.a) v = draw();
  for (float& v : o.b) v = draw();
  for (float& v : o.c) v = draw();
  o.b_row_stride = t.transposed_b ? 1 : t.cols;
  o.b_col_stride = t.transposed_b ? t.depth : 1;
  return o;
}

std::vector<float> run(const Case& t, const Operands& o) {
  std::vector<uint32_t> packed(packed_lhs_size(t.rows, t.depth));
  pack_lhs(o.a.data(), t.rows, t.depth, t.depth, 1, packed.data());
  std::vector<float> c = o.c;
  multiply(packed.data(), t.rows, t.depth, o.b.data(), o.b_row_stride, o.b_col_stride, t.cols,
           c.data(), t.cols, t.accumulate);
  return c;
}

// C's reference in double, operands rounded by `in`, and sum |a||b| per element.
template <class In>
void reference(const Case& t, const Operands& o, const In& in, std::vector<double>& c,
               std::vector<double>& magnitude) {
  c.assign(t.rows * t.cols, 0.0);
  magnitude.assign(t.rows * t.cols, 0.0);
  for (int64_t i = 0; i < t.rows; ++i)
    for (int64_t j = 0; j < t.cols; ++j) {
      double sum = t.accumulate ? o.c[i * t.cols + j] : 0.0, size = 0;
      for (int64_t k = 0; k < t.depth; ++k) {
        const double p = in(o.a[i * t.depth + k]) *
                         in(o.b[k * o.b_row_stride + j * o.b_col_stride]);
        sum += p;
        size += std::abs(p);
      }
      c[i * t.cols + j] = sum;
      magnitude[i * t.cols + j] = size + (t.accumulate ? std::abs(o.c[i * t.cols + j]) : 0.0);
    }
}

// Small integers are bfloat16 values and their sums here stay below 2^24: every layout or
// packing mistake changes the result, which is otherwise exact.
TEST(Bf16Gemm, ProductsOfRepresentableOperandsAreExact) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> small(-4, 4);
  for (const Case& t : kCases) {
    SCOPED_TRACE(::testing::Message() << t.rows << "x" << t.depth << "x" << t.cols
                                      << (t.transposed_b ? " B^T" : "")
                                      << (t.accumulate ? " +=" : ""));
    const Operands o = make(t, [&] { return static_cast<float>(small(rng)); });
    std::vector<double> want, magnitude;
    reference(t, o, [](float v) { return double(v); }, want, magnitude);
    const std::vector<float> got = run(t, o);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "element " << i;
  }
}

// Float operands: the result is the product of the rounded operands, summed in float32
// (bound: one rounding per addition, depth + 1 of them), and it is within bfloat16's
// operand error of the float32 product: |a b - bf(a) bf(b)| <= (2 u + u^2) |a b|, u = 2^-8.
TEST(Bf16Gemm, FloatOperandsAreRoundedThenSummedInFloat32) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const double u = std::ldexp(1.0, -8), float_u = std::ldexp(1.0, -24);
  for (const Case& t : kCases) {
    SCOPED_TRACE(::testing::Message() << t.rows << "x" << t.depth << "x" << t.cols);
    const Operands o = make(t, [&] { return normal(rng); });
    std::vector<double> rounded, exact, magnitude;
    reference(t, o, to_bf16_reference, rounded, magnitude);
    reference(t, o, [](float v) { return double(v); }, exact, magnitude);
    const std::vector<float> got = run(t, o);
    double worst_rounding = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double summation = (t.depth + 2) * float_u * magnitude[i];
      ASSERT_NEAR(got[i], rounded[i], summation) << "element " << i;
      ASSERT_NEAR(got[i], exact[i], (2 * u + u * u) * magnitude[i] + summation) << "element " << i;
      worst_rounding = std::max(worst_rounding, std::abs(got[i] - exact[i]) / magnitude[i]);
    }
    // ... and the operands were rounded: float32 sums of unrounded operands stay typically
    // sqrt(depth) 2^-24 < 3e-6 of the magnitude from the exact result.
    if (t.depth >= 3) {
      EXPECT_GT(worst_rounding, 2e-5);
    }
  }
}

// The dot-product form, C += A B^T over rows rounded by round_rows: exact on small integers at
// shapes with partial 6 x 4 tiles, odd depths (the zero pad), partial 16-pair vectors and
// several 2048-deep slices; float rows within float32 summation of the rounded product.
TEST(Bf16Gemm, DotProductFormMatchesTheReference) {
  struct Shape {
    int64_t rows, cols, depth;
  };
  const Shape shapes[] = {{1, 1, 1}, {7, 5, 33}, {6, 4, 32}, {13, 9, 4097}, {3, 2, 30}, {2, 7, 64}};
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> small(-4, 4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& t : shapes) {
    SCOPED_TRACE(::testing::Message() << t.rows << "x" << t.cols << " depth " << t.depth);
    for (bool integers : {true, false}) {
      auto draw = [&] { return integers ? static_cast<float>(small(rng)) : normal(rng); };
      std::vector<float> a(t.rows * t.depth), b(t.cols * t.depth), c(t.rows * t.cols);
      for (float& v : a) v = draw();
      for (float& v : b) v = draw();
      for (float& v : c) v = draw();
      const int64_t ld = (t.depth + 1) / 2 * 2;
      std::vector<uint16_t> a16(t.rows * ld, 0xFFFF), b16(t.cols * ld, 0xFFFF);  // pads: NaN
      round_rows(a.data(), t.rows, t.depth, t.depth, a16.data(), ld);
      round_rows(b.data(), t.cols, t.depth, t.depth, b16.data(), ld);
      std::vector<float> got = c;
      multiply_add_transposed(a16.data(), t.rows, ld, b16.data(), t.cols, ld, ld, got.data(),
                              t.cols);
      for (int64_t i = 0; i < t.rows; ++i)
        for (int64_t j = 0; j < t.cols; ++j) {
          double want = c[i * t.cols + j], size = std::abs(want);
          for (int64_t k = 0; k < t.depth; ++k) {
            const double p = to_bf16_reference(a[i * t.depth + k]) *
                             to_bf16_reference(b[j * t.depth + k]);
            want += p;
            size += std::abs(p);
          }
          const double bound = integers ? 0.0 : (t.depth + 2) * std::ldexp(1.0, -24) * size;
          ASSERT_NEAR(got[i * t.cols + j], want, bound) << i << ", " << j;
        }
    }
  }
}

TEST(Bf16Gemm, NaNAndInfinityPropagate) {
  const Case t{3, 5, 4, false, false};
  Operands o = make(t, [] { return 1.0f; });
  o.a[1 * t.depth + 2] = std::nanf("");  // row 1
  o.b[4 * t.cols + 3] = INFINITY;        // column 3
  const std::vector<float> c = run(t, o);
  for (int64_t i = 0; i < t.rows; ++i)
    for (int64_t j = 0; j < t.cols; ++j) {
      const float v = c[i * t.cols + j];
      if (i == 1) {
        EXPECT_TRUE(std::isnan(v));
      } else if (j == 3) {
        EXPECT_EQ(v, INFINITY);
      } else {
        EXPECT_EQ(v, 5.0f);
      }
    }
}

}  // namespace
}  // namespace onestep::cpu_backend::bf16_gemm
