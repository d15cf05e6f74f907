// The fused group_norm / group_norm_silu kernels against their composite
// (reference::group_norm, then silu): forward values and every gradient, f64 and f32, at UNet
// sizes (many groups and samples, so the threaded path runs) and with strided input.

#include <gtest/gtest.h>

#include "testing/gradcheck.h"

namespace onestep {
namespace {

using testing::max_abs_diff;

struct Case {
  Shape shape;
  int64_t groups;
  bool affine, silu, permuted;
};

struct Result {
  Tensor y, gx, gw, gb;
};

Result run(const Case& c, DType dtype, bool fused, uint64_t seed) {
  Rng gen(seed);
  const int64_t C = c.shape[1];
  Tensor x = randn(c.shape, gen, dtype) * 1.5 + 0.3;
  if (c.permuted) x = x.transpose(2, 3);  // not contiguous: the op must copy it
  x = x.detach().set_requires_grad(true);
  Tensor w, b;
  if (c.affine) {
    w = (randn({C}, gen, dtype) * 0.5 + 1.0).set_requires_grad(true);
    b = (randn({C}, gen, dtype) * 0.5).set_requires_grad(true);
  }
  Tensor y = fused ? (c.silu ? group_norm_silu(x, c.groups, w, b, 1e-6)
                             : group_norm(x, c.groups, w, b, 1e-6))
                   : reference::group_norm(x, c.groups, w, b, 1e-6);
  if (!fused && c.silu) y = silu(y);
  y.backward(randn(y.shape(), gen, dtype));
  return {y.detach(), x.grad(), c.affine ? w.grad() : Tensor(), c.affine ? b.grad() : Tensor()};
}

void expect_close(const Tensor& a, const Tensor& b, double tol, const char* what) {
  if (!a.defined() && !b.defined()) return;
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  const double scale = 1.0 + max_abs_diff(b, zeros_like(b));
  EXPECT_LE(max_abs_diff(a, b), tol * scale) << what;
}

TEST(FusedGroupNorm, MatchesComposite) {
  const std::vector<Case> cases = {
      {{8, 64, 16, 16}, 16, true, true, false},   // a UNet block's norm0 + SiLU
      {{8, 64, 16, 16}, 16, true, false, false},  // norm2 (attention): no activation
      {{3, 12, 5, 7}, 3, true, true, true},       // strided input
      {{4, 6, 3, 3}, 1, false, true, false},      // no affine parameters, one group
      {{5, 8}, 2, true, false, false},            // [N, C]: one element per channel
  };
  for (const Case& c : cases)
    for (DType dtype : {DType::f64, DType::f32}) {
      SCOPED_TRACE(fmt::format("shape {} groups {} affine {} silu {} {}", shape_str(c.shape),
                               c.groups, c.affine, c.silu, dtype_name(dtype)));
      const double tol = dtype == DType::f64 ? 1e-11 : 2e-5;
      const Result fused = run(c, dtype, true, 7), composite = run(c, dtype, false, 7);
      expect_close(fused.y, composite.y, tol, "output");
      expect_close(fused.gx, composite.gx, tol, "grad x");
      expect_close(fused.gw, composite.gw, tol * 10, "grad weight");
      expect_close(fused.gb, composite.gb, tol * 10, "grad bias");
    }
}

TEST(FusedGroupNorm, ConstantGroupIsFinite) {
  // Zero variance: rstd = 1/sqrt(eps), the output is the bias, gradients stay finite.
  const Tensor x = full({2, 4, 3, 3}, 2.0).set_requires_grad(true);
  const Tensor w = ones({4}).set_requires_grad(true), b = full({4}, 0.5).set_requires_grad(true);
  const Tensor y = group_norm_silu(x, 2, w, b, 1e-6);
  EXPECT_NEAR(y.to_vector<float>()[0], 0.5 / (1 + std::exp(-0.5)), 1e-6);
  sum(y).backward();
  for (float v : x.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace onestep
