// The learned discriminator head (--disc-head learned): its gradients in float64, its shapes and
// refusals, that it starts at chance, that it can learn what the channel mean cannot (two
// feature sets with the same mean), and that the fake network's encoder feeds it.

#include <gtest/gtest.h>

#include "onestep/distill/discriminator_head.h"
#include "onestep/distill/distill.h"
#include "onestep/nn/optimizer.h"
#include "testing/gradcheck.h"

namespace onestep::distill {
namespace {

void expect_gradients_check(const Shape& feature_shape) {
  Rng gen(3);
  DiscriminatorHead head(feature_shape, gen);
  head.to(DType::f64);
  testing::randomise(head.parameters(), 4);
  Shape batch = {3};
  batch.insert(batch.end(), feature_shape.begin(), feature_shape.end());
  std::vector<Tensor> inputs = {randn(batch, gen, DType::f64).set_requires_grad(true)};
  for (const Tensor& p : head.parameters()) inputs.push_back(p);
  const auto f = [&](const std::vector<Tensor>& in) { return head.forward(in[0]); };
  EXPECT_EQ(testing::gradcheck(f, inputs), "") << shape_str(feature_shape);
  EXPECT_EQ(head.forward(inputs[0]).shape(), (Shape{3}));
}

TEST(DiscriminatorHead, ImageHeadPassesGradcheck) { expect_gradients_check({8, 3, 3}); }

TEST(DiscriminatorHead, PointHeadPassesGradcheck) { expect_gradients_check({6}); }

TEST(DiscriminatorHead, StartsNearChance) {
  Rng gen(5);
  DiscriminatorHead head({8, 4, 4}, gen);
  const Tensor logit = head.forward(randn({16, 8, 4, 4}, gen));
  EXPECT_LT(amax(abs(logit)).item(), 0.1);
}

TEST(DiscriminatorHead, RefusesBadShapes) {
  Rng gen(6);
  EXPECT_THROW(DiscriminatorHead({8, 4}, gen), Error);
  EXPECT_THROW(DiscriminatorHead({0}, gen), Error);
  DiscriminatorHead head({8, 4, 4}, gen);
  try {
    head.forward(randn({2, 8, 5, 5}, gen));
    FAIL() << "a mis-shaped bottleneck was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("discriminator head"), std::string::npos) << e.what();
  }
}

// "Real" features ~ N(0, 1), "fake" ones ~ N(0, 0.25) per element: the same mean, so the channel
// mean's logit cannot tell them apart, while the head learns to (BCE far below chance's 0.693).
TEST(DiscriminatorHead, LearnsADifferenceTheChannelMeanCannotSee) {
  Rng gen(7);
  DiscriminatorHead head({8, 3, 3}, gen);
  nn::Adam adam(head.parameters(), nn::AdamOptions{1e-2, 0.0, 0.999, 1e-8, 0.0});
  double bce = 0;
  for (int step = 0; step < 300; ++step) {
    const Tensor real = randn({32, 8, 3, 3}, gen), fake = randn({32, 8, 3, 3}, gen) * 0.5;
    const Tensor loss = mean(softplus(neg(head.forward(real)))) * 0.5 +
                        mean(softplus(head.forward(fake))) * 0.5;
    adam.zero_grad();
    loss.backward();
    adam.step();
    bce = loss.item();
  }
  EXPECT_LT(bce, 0.45);
}

}  // namespace
}  // namespace onestep::distill
