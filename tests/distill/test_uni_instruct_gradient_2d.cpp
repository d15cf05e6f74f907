// The gradient-equivalence test of test_uni_instruct_gradient.cpp in two dimensions, where the
// estimator's vector terms (|Delta|^2, <Delta, D_q - x_g>, the DI direction) and the ratio r,
// which couples the coordinates, can go wrong in ways one dimension cannot show. Teacher
// p = N(m, diag(v)), generator x_g = mu + s * z with a different spread per coordinate; exact
// denoisers and the exact ratio replace the networks. The Monte-Carlo mean of
// (2 / sigma^4) grad l_UI must match the central-difference gradient of
// J_f = E_{q_sigma}[h(r) |s_p - s_q|^2] (a 2-D Gauss-Hermite product rule) for all four
// parameters.

#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "gauss_hermite.h"
#include "onestep/distill/uni_instruct.h"
#include "onestep/engine.h"

namespace onestep::distill {
namespace {

using quadrature::gauss_hermite;
using quadrature::Quadrature;
using Pair = std::array<double, 2>;

constexpr Pair kTeacherMean = {0.5, -0.3}, kTeacherVariance = {1.0, 0.5};
// Wider than the teacher in both coordinates (s^2 = 1.5625 > 1, 0.81 > 0.5): r is bounded.
constexpr Pair kMu = {0.1, 0.2}, kS = {1.25, 0.9};

struct Parameters {
  Pair mu, s;
};

// J_f(mu, s; sigma) over x ~ q_sigma = N(mu, diag(s^2 + sigma^2)).
double objective(const Divergence& f, const Parameters& theta, double sigma, const Quadrature& q) {
  const double sigma2 = sigma * sigma;
  double total = 0;
  for (size_t i = 0; i < q.nodes.size(); ++i) {
    for (size_t j = 0; j < q.nodes.size(); ++j) {
      const Pair node = {q.nodes[i], q.nodes[j]};
      double log_r = 0, gap_sq = 0;
      for (int d = 0; d < 2; ++d) {
        const double vp = kTeacherVariance[d] + sigma2, vq = theta.s[d] * theta.s[d] + sigma2;
        const double x = theta.mu[d] + std::sqrt(vq) * node[d];
        const double dp = x - kTeacherMean[d], dq = x - theta.mu[d];
        log_r += -0.5 * std::log(vp) - 0.5 * dp * dp / vp + 0.5 * std::log(vq) + 0.5 * dq * dq / vq;
        const double gap = -dp / vp + dq / vq;
        gap_sq += gap * gap;
      }
      total += q.weights[i] * q.weights[j] * f.h(std::exp(log_r)) * gap_sq;
    }
  }
  return total;
}

// Central differences of the objective for each of mu_0, mu_1, s_0, s_1.
std::array<double, 4> quadrature_gradient(const Divergence& f, double sigma, const Quadrature& q) {
  const double step = 1e-5;
  std::array<double, 4> gradient{};
  for (int k = 0; k < 4; ++k) {
    Parameters plus{kMu, kS}, minus{kMu, kS};
    double& up = k < 2 ? plus.mu[k] : plus.s[k - 2];
    double& down = k < 2 ? minus.mu[k] : minus.s[k - 2];
    up += step;
    down -= step;
    gradient[k] = (objective(f, plus, sigma, q) - objective(f, minus, sigma, q)) / (2 * step);
  }
  return gradient;
}

struct Estimate {
  double mean, standard_error;
};

Tensor per_coordinate(const Pair& value, int64_t n) {
  std::vector<double> values(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < n; ++i) {
    values[2 * i] = value[0];
    values[2 * i + 1] = value[1];
  }
  return from_vector(values, {n, 2});
}

// Monte-Carlo (2 / sigma^4) E[grad l_UI] for mu_0, mu_1, s_0, s_1, from per-sample gradients.
std::array<Estimate, 4> monte_carlo(const Divergence& f, double sigma, RatioGradient mode,
                                    int64_t n, uint64_t seed) {
  Rng gen(seed);
  // One copy of each parameter per sample, so that autograd yields per-sample gradients.
  const Tensor mu = per_coordinate(kMu, n).set_requires_grad(true);
  const Tensor s = per_coordinate(kS, n).set_requires_grad(true);
  const Tensor z = randn({n, 2}, gen, DType::f64), eps = randn({n, 2}, gen, DType::f64);
  const Tensor x_g = mu + s * z;
  const Tensor x_t = x_g + eps * sigma;
  const double sigma2 = sigma * sigma;
  const Pair vp = {kTeacherVariance[0] + sigma2, kTeacherVariance[1] + sigma2};
  const Pair vq = {kS[0] * kS[0] + sigma2, kS[1] * kS[1] + sigma2};
  const Tensor teacher_mean = per_coordinate(kTeacherMean, 1),
               generator_mean = per_coordinate(kMu, 1);
  const Tensor inv_vp = per_coordinate({1 / vp[0], 1 / vp[1]}, 1);
  const Tensor inv_vq = per_coordinate({1 / vq[0], 1 / vq[1]}, 1);
  const Tensor shrink_p =
      per_coordinate({kTeacherVariance[0] / vp[0], kTeacherVariance[1] / vp[1]}, 1);
  const Tensor shrink_q = per_coordinate({kS[0] * kS[0] / vq[0], kS[1] * kS[1] / vq[1]}, 1);
  // Exact denoisers; the fake one and the ratio use theta's values (frozen networks).
  const Tensor d_p = (x_t - teacher_mean) * shrink_p + teacher_mean;
  const Tensor d_q = (x_t - generator_mean) * shrink_q + generator_mean;
  const double log_normaliser = -0.5 * std::log(vp[0] * vp[1]) + 0.5 * std::log(vq[0] * vq[1]);
  const Tensor log_r =
      sum(square(x_t - teacher_mean) * inv_vp * -0.5 + square(x_t - generator_mean) * inv_vq * 0.5,
          {1}) +
      log_normaliser;
  UniInstructInputs in{x_g, x_t, d_p, d_q, exp(log_r), full({n}, sigma, DType::f64)};
  const Tensor loss = uni_instruct_terms(in, f, mode).total();
  const auto grads = autograd::grad({sum(loss)}, {mu, s});
  std::array<Estimate, 4> estimates{};
  for (int k = 0; k < 4; ++k) {
    const std::vector<double> g = grads[k / 2].to_vector<double>();
    double total = 0, total_sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = g[static_cast<size_t>(2 * i + k % 2)] * 2.0 / (sigma2 * sigma2);
      total += v;
      total_sq += v * v;
    }
    const double mean = total / static_cast<double>(n);
    const double variance = (total_sq / static_cast<double>(n) - mean * mean) *
                            static_cast<double>(n) / static_cast<double>(n - 1);
    estimates[k] = {mean, std::sqrt(variance / static_cast<double>(n))};
  }
  return estimates;
}

constexpr int64_t kSamples = 200000;
const char* const kParameterNames[4] = {"mu_0", "mu_1", "s_0", "s_1"};

TEST(UniInstructGradient2d, MatchesTheQuadratureGradientForEveryDivergence) {
  const Quadrature q = gauss_hermite(60);
  for (const Divergence& f : named_divergences({1.5, -0.5})) {
    for (double sigma : {0.3, 1.0, 2.5}) {
      const std::array<double, 4> exact = quadrature_gradient(f, sigma, q);
      for (RatioGradient mode :
           {RatioGradient::through_discriminator, RatioGradient::closed_form}) {
        const std::array<Estimate, 4> mc = monte_carlo(f, sigma, mode, kSamples, 23);
        for (int k = 0; k < 4; ++k) {
          EXPECT_LE(std::abs(mc[k].mean - exact[k]), 4 * mc[k].standard_error + 1e-7)
              << f.name() << " sigma " << sigma << " mode " << static_cast<int>(mode) << ": "
              << kParameterNames[k] << "-gradient " << mc[k].mean << " +- " << mc[k].standard_error
              << " vs " << exact[k];
        }
      }
    }
  }
}

// The biased variant is wrong in 2-D too: some s-gradient misses by more than 6 standard errors
// for every divergence whose h is not constant.
TEST(UniInstructGradient2d, StopGradientHWithoutTheRatioTermGetsAnSGradientWrong) {
  const Quadrature q = gauss_hermite(60);
  const double sigma = 1.0;
  for (const Divergence& f : named_divergences({1.5, -0.5})) {
    if (f.kind() == DivergenceKind::reverse_kl) continue;  // h = 1: nothing to stop
    const std::array<double, 4> exact = quadrature_gradient(f, sigma, q);
    const std::array<Estimate, 4> mc = monte_carlo(f, sigma, RatioGradient::none, kSamples, 24);
    double worst = 0;
    for (int k = 2; k < 4; ++k)
      worst = std::max(worst, std::abs(mc[k].mean - exact[k]) / mc[k].standard_error);
    EXPECT_GT(worst, 6.0) << f.name() << ": the biased variant's s-gradients match";
  }
}

}  // namespace
}  // namespace onestep::distill
