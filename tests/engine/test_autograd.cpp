// The tape: accumulation, retain_graph, NoGradGuard, detach, requires_grad toggling, gradients
// with respect to the inputs of frozen networks, autograd::grad, saved-tensor versions, depth.

#include <gtest/gtest.h>

#include "testing/gradcheck.h"

namespace onestep {
namespace {

Tensor leaf(std::vector<double> values, Shape shape) {
  return from_vector<double>(values, shape).set_requires_grad(true);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  const Tensor x = leaf({1, -2, 3}, {3});
  const Tensor y = sum(x * x);
  y.backward(Tensor(), /*retain_graph=*/true);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, -4, 6}));
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, -8, 12}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, ASecondBackwardWithoutRetainGraphIsAnError) {
  const Tensor x = leaf({1, 2}, {2});
  const Tensor y = sum(exp(x));
  y.backward();
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, AVariableUsedTwiceGetsBothContributions) {
  const Tensor x = leaf({0.5, -1.0}, {2});
  sum(x * x + exp(x) + x).backward();
  const auto g = x.grad().to_vector<double>();
  EXPECT_NEAR(g[0], 2 * 0.5 + std::exp(0.5) + 1, 1e-12);
  EXPECT_NEAR(g[1], -2 + std::exp(-1.0) + 1, 1e-12);
}

TEST(Autograd, NoGradGuardRecordsNothingAndNests) {
  const Tensor x = leaf({1, 2}, {2});
  {
    NoGradGuard outer;
    EXPECT_FALSE((x * 2.0).requires_grad());
    {
      NoGradGuard inner;
      EXPECT_FALSE(grad_mode_enabled());
    }
    EXPECT_FALSE(grad_mode_enabled());
  }
  EXPECT_TRUE(grad_mode_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Autograd, DetachSharesStorageAndStopsGradients) {
  const Tensor x = leaf({3}, {1});
  const Tensor d = x.detach();
  EXPECT_TRUE(d.shares_storage(x));
  EXPECT_FALSE(d.requires_grad());
  sum(x * d).backward();  // d(x * const)/dx = const
  EXPECT_EQ(x.grad().item(), 3.0);
}

TEST(Autograd, RequiresGradTogglesOnlyOnFloatingLeaves) {
  const Tensor w = leaf({1, 2}, {2});
  w.set_requires_grad(false);
  const Tensor x = leaf({3, 4}, {2});
  sum(w * x).backward();
  EXPECT_FALSE(w.grad().defined());
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 2}));
  EXPECT_THROW((x * 2.0).set_requires_grad(false), Error);
  EXPECT_THROW(from_vector<int64_t>({1}, {1}).set_requires_grad(true), Error);
  EXPECT_THROW(sum(w).backward(), Error);  // nothing requires grad
}

// The distillation pattern: x_t = G_theta(z) + sigma * eps goes through a network whose
// parameters are frozen; the gradient must reach theta through the network's input, and the
// frozen parameters must stay untouched.
TEST(Autograd, GradientsFlowThroughTheInputsOfFrozenNetworks) {
  Rng gen(11);
  const Tensor w1 = randn({8, 3}, gen, DType::f64), b1 = randn({8}, gen, DType::f64);
  const Tensor w2 = randn({3, 8}, gen, DType::f64);
  const Tensor theta = randn({3}, gen, DType::f64).set_requires_grad(true);
  const Tensor z = randn({5, 3}, gen, DType::f64), noise = randn({5, 3}, gen, DType::f64);
  const Tensor target = randn({5, 3}, gen, DType::f64);
  const auto frozen_net = [&](const Tensor& x) { return linear(silu(linear(x, w1, b1)), w2); };
  const auto loss = [&](const std::vector<Tensor>& in) {
    const Tensor x_g = z * in[0];
    const Tensor x_t = x_g + noise * 0.7;
    return sum((frozen_net(x_t) - target) * x_g);
  };
  EXPECT_EQ(testing::gradcheck(loss, {theta}), "");
  loss({theta}).backward();
  EXPECT_TRUE(theta.grad().defined());
  for (const Tensor& p : {w1, b1, w2}) EXPECT_FALSE(p.grad().defined());
  EXPECT_THROW((z * theta).set_requires_grad(false), Error);  // results cannot be toggled
}

TEST(Autograd, GradOfIntermediatesAndUnusedInputs) {
  const Tensor x = leaf({1, 2, 3}, {3});
  const Tensor h = x * 2.0;
  const Tensor y = sum(h * h);
  const auto grads = autograd::grad({y}, {h, x}, {}, /*retain_graph=*/true);
  EXPECT_EQ(grads[0].to_vector<double>(), (std::vector<double>{4, 8, 12}));
  EXPECT_EQ(grads[1].to_vector<double>(), (std::vector<double>{8, 16, 24}));
  EXPECT_FALSE(x.grad().defined()) << "grad() must not write .grad";
  const Tensor unrelated = leaf({1}, {1});
  EXPECT_THROW(autograd::grad({y}, {unrelated}, {}, true), Error);
  const auto maybe = autograd::grad({y}, {unrelated}, {}, true, /*allow_unused=*/true);
  EXPECT_FALSE(maybe[0].defined());
}

TEST(Autograd, NonScalarOutputsNeedAnExplicitGradient) {
  const Tensor x = leaf({1, 2}, {2});
  const Tensor y = x * 3.0;
  EXPECT_THROW(y.backward(), Error);
  EXPECT_THROW(y.backward(ones({3}, DType::f64)), Error);
  y.backward(from_vector<double>({1, 10}, {2}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 30}));
}

TEST(Autograd, ModifyingASavedTensorInPlaceIsReported) {
  const Tensor x = leaf({1, 2}, {2});
  const Tensor w = from_vector<double>({3, 4}, {2});
  const Tensor y = sum(x * w);
  w.fill_(0.0);  // w was saved by mul for the gradient of x
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, InPlaceWritesOnTensorsThatRequireGradAreRefusedInGradMode) {
  const Tensor x = leaf({1, 2}, {2});
  EXPECT_THROW(x.fill_(0.0), Error);
  EXPECT_THROW(x.add_(x), Error);
  NoGradGuard no_grad;  // what optimizers do
  x.add_(ones({2}, DType::f64), -0.5);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{0.5, 1.5}));
}

TEST(Autograd, DeepGraphsNeitherOverflowTheStackInBackwardNorInDestruction) {
  const Tensor x = leaf({1.0}, {1});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0 + 0.0;  // 200k nodes in a chain
  y.backward(ones({1}, DType::f64));
  EXPECT_EQ(x.grad().item(), 1.0);
  y = Tensor();  // frees the chain
  SUCCEED();
}

TEST(Autograd, ViewsOfLeavesPassGradientsBack) {
  const Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(x.transpose(0, 1).slice(0, 1, 3) * 2.0).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 2, 2, 0, 2, 2}));
}

TEST(Autograd, BackwardOfSeveralOutputsSharingAGraph) {
  const Tensor x = leaf({2}, {1});
  const Tensor a = x * x;    // da/dx = 2x = 4
  const Tensor b = a * 3.0;  // db/dx = 6x = 12
  autograd::backward({sum(a), sum(b)});
  EXPECT_EQ(x.grad().item(), 16.0);
}

}  // namespace
}  // namespace onestep
