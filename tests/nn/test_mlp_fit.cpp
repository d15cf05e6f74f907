// Training smoke test: a tiny MLP, built from engine ops, fits y = sin(x0) cos(x1) with Adam.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "onestep/engine.h"
#include "onestep/nn/ema.h"
#include "onestep/nn/optimizer.h"

namespace onestep::nn {
namespace {

struct Linear {
  Tensor weight;  // [out, in]
  Tensor bias;    // [out]
};

// PyTorch's nn.Linear default: weight and bias uniform in ±1/sqrt(fan_in).
Linear make_linear(int64_t in, int64_t out, Rng& gen) {
  const double bound = 1.0 / std::sqrt(double(in));
  Linear l{rand({out, in}, gen) * (2 * bound) - bound, rand({out}, gen) * (2 * bound) - bound};
  l.weight.set_requires_grad(true);
  l.bias.set_requires_grad(true);
  return l;
}

struct Mlp {
  std::vector<Linear> layers;

  Mlp(const std::vector<int64_t>& widths, Rng& gen) {
    for (size_t i = 0; i + 1 < widths.size(); ++i)
      layers.push_back(make_linear(widths[i], widths[i + 1], gen));
  }
  // x: [N, widths.front()] -> [N, widths.back()]
  Tensor forward(Tensor x) const {
    for (size_t i = 0; i < layers.size(); ++i) {
      x = linear(x, layers[i].weight, layers[i].bias);
      if (i + 1 < layers.size()) x = silu(x);
    }
    return x;
  }
  std::vector<Tensor> params() const {
    std::vector<Tensor> out;
    for (const Linear& l : layers) {
      out.push_back(l.weight);
      out.push_back(l.bias);
    }
    return out;
  }
};

struct FitResult {
  double initial_loss = 0;
  double final_loss = 0;
  double ema_loss = 0;
};

FitResult fit(uint64_t seed, int steps) {
  Rng gen(seed);
  constexpr int64_t kPoints = 256;
  // x: [256, 2] uniform in [-2, 2]^2; y: [256, 1]
  const Tensor x = rand({kPoints, 2}, gen) * 4.0 - 2.0;
  const std::vector<float> xv = x.to_vector<float>();
  std::vector<float> yv(kPoints);
  for (int64_t i = 0; i < kPoints; ++i) yv[i] = std::sin(xv[2 * i]) * std::cos(xv[2 * i + 1]);
  const Tensor y = from_vector(yv, {kPoints, 1});

  Mlp mlp({2, 64, 64, 1}, gen);
  AdamOptions options;
  options.lr = 1e-2;
  Adam opt(mlp.params(), options);
  ExponentialMovingAverage ema(mlp.params());

  FitResult result;
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    const Tensor loss = mse_loss(mlp.forward(x), y);
    if (s == 0) result.initial_loss = loss.item();
    loss.backward();
    opt.step();
    ema.update(
        ExponentialMovingAverage::decay_for_half_life(500, kPoints, double(s) * kPoints, 0.05));
  }
  NoGradGuard no_grad;
  result.final_loss = mse_loss(mlp.forward(x), y).item();
  ema.swap();
  result.ema_loss = mse_loss(mlp.forward(x), y).item();
  ema.swap();
  return result;
}

// The time is printed, not asserted: a loaded 2-core machine takes 30x longer, and speed is the
// benchmarks' business.
TEST(MlpFit, AdamFitsA2DRegressionDeterministically) {
  const auto start = std::chrono::steady_clock::now();
  const FitResult a = fit(1234, 400);
  const FitResult b = fit(1234, 400);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_GT(a.initial_loss, 0.0);
  EXPECT_LE(a.final_loss, a.initial_loss / 10) << "initial " << a.initial_loss;
  EXPECT_LE(a.ema_loss, a.initial_loss / 10) << "initial " << a.initial_loss;
  EXPECT_EQ(a.initial_loss, b.initial_loss);
  EXPECT_EQ(a.final_loss, b.final_loss);
  EXPECT_EQ(a.ema_loss, b.ema_loss);
  RecordProperty("initial_loss", std::to_string(a.initial_loss));
  RecordProperty("final_loss", std::to_string(a.final_loss));
  std::printf("initial loss %.5f, final %.6f (EMA %.6f), two fits in %.2f s\n", a.initial_loss,
              a.final_loss, a.ema_loss, seconds);
}

}  // namespace
}  // namespace onestep::nn
