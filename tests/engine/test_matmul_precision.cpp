// MatmulPrecision::bf16 (onestep/engine/precision.h) through the ops: convolutions and matrix
// products, forward and backward, compute exactly the float64 result of bfloat16-rounded
// operands (within float32 summation), everything else stays as in fp32, and the setting is a
// scope of the calling thread.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "onestep/engine/precision.h"
#include "testing/gradcheck.h"

namespace onestep {
namespace {

using testing::max_abs_diff;
using testing::rounded_to_bf16;

Tensor leaf(const Tensor& x) { return x.detach().set_requires_grad(true); }

TEST(MatmulPrecision, IsAScopeOfTheCallingThread) {
  EXPECT_EQ(matmul_precision(), MatmulPrecision::fp32);
  {
    MatmulPrecisionScope bf16(MatmulPrecision::bf16);
    EXPECT_EQ(matmul_precision(), MatmulPrecision::bf16);
    MatmulPrecision elsewhere = MatmulPrecision::bf16;
    std::thread([&] { elsewhere = matmul_precision(); }).join();
    EXPECT_EQ(elsewhere, MatmulPrecision::fp32);
    {
      MatmulPrecisionScope fp32(MatmulPrecision::fp32);
      EXPECT_EQ(matmul_precision(), MatmulPrecision::fp32);
    }
    EXPECT_EQ(matmul_precision(), MatmulPrecision::bf16);
  }
  EXPECT_EQ(matmul_precision(), MatmulPrecision::fp32);
  EXPECT_EQ(parse_matmul_precision("bf16"), MatmulPrecision::bf16);
  EXPECT_EQ(to_string(parse_matmul_precision("fp32")), "fp32");
  try {
    parse_matmul_precision("fp16");
    FAIL() << "fp16 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected fp32 or bf16"), std::string::npos) << e.what();
  }
}

struct ConvCase {
  int64_t N, C, H, W, O, k, stride, pad;
};

// Every GEMM of the convolution rounds both its operands: the forward pass (weight, columns),
// the input gradient (weight, output gradient) and the weight gradient (output gradient,
// columns); the bias and its gradient do not.
TEST(MatmulPrecision, Bf16ConvolutionIsTheExactConvolutionOfRoundedOperands) {
  const ConvCase cases[] = {
      {3, 5, 9, 9, 7, 3, 1, 1},   {2, 64, 8, 8, 10, 3, 1, 1}, {3, 9, 7, 5, 17, 1, 1, 0},
      {2, 6, 10, 10, 5, 3, 2, 1}, {1, 5, 3, 4, 4, 3, 1, 1},   {2, 3, 24, 24, 6, 3, 1, 1},
      // small images: the weight gradient lays several samples' rows side by side, an odd
      // pixel count (25) with its zero pad between them
      {9, 4, 5, 5, 3, 3, 1, 1},   {16, 3, 4, 4, 5, 3, 1, 1},
  };
  Rng gen(21);
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << "N" << c.N << " C" << c.C << " " << c.H << "x" << c.W
                                      << " O" << c.O << " k" << c.k << " s" << c.stride);
    const Tensor x = randn({c.N, c.C, c.H, c.W}, gen), w = randn({c.O, c.C, c.k, c.k}, gen) * 0.2,
                 b = randn({c.O}, gen);
    const Tensor y_shape = conv2d(x, w, b, c.stride, c.pad);
    const Tensor g = randn(y_shape.shape(), gen);

    const Tensor x16 = leaf(x), w16 = leaf(w), b16 = leaf(b);
    Tensor y16;
    {
      MatmulPrecisionScope bf16(MatmulPrecision::bf16);
      y16 = conv2d(x16, w16, b16, c.stride, c.pad);
      y16.backward(g);
    }
    const Tensor x32 = leaf(x), w32 = leaf(w), b32 = leaf(b);
    const Tensor y32 = conv2d(x32, w32, b32, c.stride, c.pad);
    y32.backward(g);
    const Tensor x64 = leaf(rounded_to_bf16(x)), w64 = leaf(rounded_to_bf16(w)),
                 b64 = leaf(b.to(DType::f64));
    const Tensor y64 = conv2d(x64, w64, b64, c.stride, c.pad);
    y64.backward(rounded_to_bf16(g));

    // float32 sums of up to 576 products of unit-scale terms
    EXPECT_LE(max_abs_diff(y16, y64), 2e-4);
    EXPECT_LE(max_abs_diff(x16.grad(), x64.grad()), 2e-4);
    EXPECT_LE(max_abs_diff(w16.grad(), w64.grad()), 1e-3);
    EXPECT_EQ(max_abs_diff(b16.grad(), b32.grad()), 0.0);
    // ... and bfloat16 rounding shows, far above float32's error.
    EXPECT_GT(max_abs_diff(y16, y32), 5e-4);
    EXPECT_GT(max_abs_diff(x16.grad(), x32.grad()), 5e-4);
    EXPECT_GT(max_abs_diff(w16.grad(), w32.grad()), 5e-4);
  }
}

TEST(MatmulPrecision, Bf16MatmulIsTheExactProductOfRoundedOperands) {
  Rng gen(22);
  struct Case {
    Shape a, b;
    bool transpose_a, transpose_b;
  };
  const Case cases[] = {
      {{5, 1100}, {1100, 70}, false, false},     // two 1024-deep slices, two column blocks
      {{8, 17, 33}, {8, 33, 9}, false, false},   // batched: products spread over threads
      {{40, 13}, {65, 40}, true, true},          // both operands transposed views
      {{1, 300}, {300, 1}, false, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.a) + " @ " + shape_str(c.b));
    const Tensor a0 = randn(c.a, gen), b0 = randn(c.b, gen);
    auto view = [](const Tensor& t, bool transpose) {
      return transpose ? t.transpose(-2, -1) : t;
    };
    const Tensor a16 = leaf(a0), b16 = leaf(b0);
    Tensor y16;
    const Tensor g = randn(matmul(view(a0, c.transpose_a), view(b0, c.transpose_b)).shape(), gen);
    {
      MatmulPrecisionScope bf16(MatmulPrecision::bf16);
      y16 = matmul(view(a16, c.transpose_a), view(b16, c.transpose_b));
      y16.backward(g);
    }
    const Tensor a64 = leaf(rounded_to_bf16(a0)), b64 = leaf(rounded_to_bf16(b0));
    const Tensor y64 = matmul(view(a64, c.transpose_a), view(b64, c.transpose_b));
    y64.backward(rounded_to_bf16(g));
    const Tensor y32 = matmul(view(a0, c.transpose_a), view(b0, c.transpose_b));
    // float32 sums of unit-scale products, forward and backward: no sum is longer than the
    // largest dimension.
    int64_t longest = 0;
    for (int64_t d : c.a) longest = std::max(longest, d);
    for (int64_t d : c.b) longest = std::max(longest, d);
    const double tolerance = 4e-7 * static_cast<double>(longest);
    EXPECT_LE(max_abs_diff(y16, y64), tolerance);
    EXPECT_LE(max_abs_diff(a16.grad(), a64.grad()), tolerance);
    EXPECT_LE(max_abs_diff(b16.grad(), b64.grad()), tolerance);
    EXPECT_GT(max_abs_diff(y16, y32), 1e-3);
  }
}

TEST(MatmulPrecision, Float64IsNeverRounded) {
  Rng gen(23);
  const Tensor x = randn({2, 4, 6, 6}, gen, DType::f64), w = randn({3, 4, 3, 3}, gen, DType::f64);
  const Tensor a = randn({7, 9}, gen, DType::f64), b = randn({9, 5}, gen, DType::f64);
  const Tensor y = conv2d(x, w, Tensor(), 1, 1), p = matmul(a, b);
  MatmulPrecisionScope bf16(MatmulPrecision::bf16);
  EXPECT_EQ(max_abs_diff(conv2d(x, w, Tensor(), 1, 1), y), 0.0);
  EXPECT_EQ(max_abs_diff(matmul(a, b), p), 0.0);
}

}  // namespace
}  // namespace onestep
