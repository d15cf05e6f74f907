// The discriminator head (the mean of the fake network's encoder bottleneck), trained with the
// distillation's discriminator loss on two known 2-D Gaussians, estimates their log density
// ratio: correlation > 0.95 with the truth on held-out points.

#include <gtest/gtest.h>

#include <cmath>

#include "onestep/diffusion/model_config.h"
#include "onestep/distill/distill.h"
#include "onestep/engine.h"
#include "onestep/nn/optimizer.h"

namespace onestep::distill {
namespace {

// log N(x; mean, diag(variances)) for x [N, 2].
Tensor log_density(const Tensor& x, double m0, double m1, double v0, double v1) {
  const Tensor d0 = x.select(1, 0) - m0, d1 = x.select(1, 1) - m1;
  return square(d0) * (-0.5 / v0) + square(d1) * (-0.5 / v1) -
         0.5 * std::log(4 * M_PI * M_PI * v0 * v1);
}

TEST(DensityRatio, TheDiscriminatorLearnsTheLogRatioOfTwoGaussians) {
  diffusion::ModelConfig config;
  config.arch = "mlp";
  config.mlp.hidden = 64;
  config.mlp.num_blocks = 2;
  Generator gen(7);
  const auto net = diffusion::build_denoiser(config, gen);
  nn::Adam adam(net->parameters(), nn::AdamOptions{2e-3, 0.0, 0.999, 1e-8, 0.0});
  // p = N((0.5, 0), diag(1, 0.5)), q = N((-0.5, 0.3), diag(0.6, 1)); a small fixed noise level.
  const double sigma = 0.05, s2 = sigma * sigma;
  auto sample_p = [&](int64_t n) {
    return concat({randn({n, 1}, gen) * 1.0 + 0.5, randn({n, 1}, gen) * std::sqrt(0.5)}, 1);
  };
  auto sample_q = [&](int64_t n) {
    return concat({randn({n, 1}, gen) * std::sqrt(0.6) - 0.5, randn({n, 1}, gen) * 1.0 + 0.3}, 1);
  };
  const int64_t batch = 512;
  for (int step = 0; step < 1500; ++step) {
    const Tensor sigmas = full({batch}, sigma);
    adam.zero_grad();
    mean(discriminator_loss(*net, sample_p(batch), Tensor(), sample_q(batch), Tensor(), sigmas,
                            randn({batch, 2}, gen)))
        .backward();
    adam.step();
  }
  // Held-out points from both distributions, noised at sigma as in training.
  NoGradGuard no_grad;
  const Tensor x = concat({sample_p(2000), sample_q(2000)}, 0) + randn({4000, 2}, gen) * sigma;
  const Tensor truth =
      log_density(x, 0.5, 0.0, 1.0 + s2, 0.5 + s2) - log_density(x, -0.5, 0.3, 0.6 + s2, 1.0 + s2);
  const Tensor estimate = discriminator_logit(*net, x, full({4000}, sigma));
  const Tensor a = truth.to(DType::f64) - mean(truth.to(DType::f64));
  const Tensor b = estimate.to(DType::f64) - mean(estimate.to(DType::f64));
  const double correlation = sum(a * b).item() / std::sqrt(sum(a * a).item() * sum(b * b).item());
  std::printf("correlation of the discriminator's log-ratio with the truth: %.4f\n", correlation);
  EXPECT_GT(correlation, 0.95);
}

}  // namespace
}  // namespace onestep::distill
