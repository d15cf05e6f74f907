// The Uni-Instruct estimator checked numerically (docs/DISTILL.md): with a 1-D Gaussian teacher
// N(0.5, 1), a generator mu + s z, exact denoisers and the exact density ratio in place of
// networks, the Monte-Carlo mean of
// (2 / sigma^4) grad l_UI equals the gradient of J_f(theta; sigma) = E_q[h(r) (s_p - s_q)^2]
// computed by Gauss-Hermite quadrature and central differences, for every divergence, for mu
// and s, at sigma in {0.3, 1, 2.5}. With h(r) stop-gradient and no ratio term the s-gradient
// is wrong.

#include <gtest/gtest.h>

#include <cmath>

#include "gauss_hermite.h"
#include "gaussian_1d.h"
#include "onestep/distill/uni_instruct.h"
#include "onestep/engine.h"

namespace onestep::distill {
namespace {

constexpr double kTeacherMean = 0.5;    // p = N(0.5, 1)
constexpr double kMu = 0.1, kS = 1.25;  // q wider than p: r is bounded, chi^2 has finite variance

using quadrature::gauss_hermite;
using quadrature::Quadrature;

double log_normal_pdf(double x, double mean, double variance) {
  return -0.5 * std::log(2 * M_PI * variance) - 0.5 * (x - mean) * (x - mean) / variance;
}

// J_f(mu, s; sigma) by quadrature over x ~ q_sigma = N(mu, s^2 + sigma^2).
double objective(const Divergence& f, double mu, double s, double sigma, const Quadrature& q) {
  const double vp = 1 + sigma * sigma, vq = s * s + sigma * sigma;
  double total = 0;
  for (size_t i = 0; i < q.nodes.size(); ++i) {
    const double x = mu + std::sqrt(vq) * q.nodes[i];
    const double r = std::exp(log_normal_pdf(x, kTeacherMean, vp) - log_normal_pdf(x, mu, vq));
    const double score_gap = -(x - kTeacherMean) / vp + (x - mu) / vq;
    total += q.weights[i] * f.h(r) * score_gap * score_gap;
  }
  return total;
}

struct Estimate {
  double mean, standard_error;
};

// Monte-Carlo (2 / sigma^4) E[grad l_UI] for mu and s, with per-sample gradients.
std::pair<Estimate, Estimate> monte_carlo(const Divergence& f, double sigma, RatioGradient mode,
                                          int64_t n, uint64_t seed) {
  const testing::Gaussian1d g = testing::gaussian_1d(kTeacherMean, kMu, kS, sigma, n, seed);
  UniInstructInputs in{g.x_g, g.x_t, g.d_p, g.d_q, exp(g.log_ratio).reshape({n}), g.sigma};
  const Tensor loss = uni_instruct_terms(in, f, mode).total();
  const auto grads = autograd::grad({sum(loss)}, {g.mu, g.s});
  auto estimate = [&](const Tensor& gradient) {
    const Tensor scaled = gradient * (2.0 / std::pow(sigma, 4));
    return Estimate{mean(scaled).item(), std::sqrt(var(scaled).item() / static_cast<double>(n))};
  };
  return {estimate(grads[0]), estimate(grads[1])};
}

constexpr int64_t kSamples = 400000;

TEST(UniInstructGradient, MatchesTheQuadratureGradientForEveryDivergence) {
  const Quadrature q = gauss_hermite(120);
  const double step = 1e-5;
  for (const Divergence& f : named_divergences({1.5, -0.5})) {
    for (double sigma : {0.3, 1.0, 2.5}) {
      const double d_mu =
          (objective(f, kMu + step, kS, sigma, q) - objective(f, kMu - step, kS, sigma, q)) /
          (2 * step);
      const double d_s =
          (objective(f, kMu, kS + step, sigma, q) - objective(f, kMu, kS - step, sigma, q)) /
          (2 * step);
      for (RatioGradient mode :
           {RatioGradient::through_discriminator, RatioGradient::closed_form}) {
        const auto [mu, s] = monte_carlo(f, sigma, mode, kSamples, 17);
        const std::string where =
            fmt::format("{} sigma {} mode {}", f.name(), sigma, static_cast<int>(mode));
        EXPECT_LE(std::abs(mu.mean - d_mu), 4 * mu.standard_error + 1e-7)
            << where << ": mu-gradient " << mu.mean << " +- " << mu.standard_error << " vs "
            << d_mu;
        EXPECT_LE(std::abs(s.mean - d_s), 4 * s.standard_error + 1e-7)
            << where << ": s-gradient " << s.mean << " +- " << s.standard_error << " vs " << d_s;
      }
    }
  }
}

TEST(UniInstructGradient, StopGradientHWithoutTheRatioTermGetsTheSGradientWrong) {
  const Quadrature q = gauss_hermite(120);
  const double step = 1e-5, sigma = 1.0;
  for (const Divergence& f : named_divergences({1.5, -0.5})) {
    if (f.kind() == DivergenceKind::reverse_kl) continue;  // h = 1: nothing to stop
    const double d_s =
        (objective(f, kMu, kS + step, sigma, q) - objective(f, kMu, kS - step, sigma, q)) /
        (2 * step);
    const auto [mu, s] = monte_carlo(f, sigma, RatioGradient::none, kSamples, 18);
    EXPECT_GT(std::abs(s.mean - d_s), 6 * s.standard_error)
        << f.name() << ": the biased variant's s-gradient " << s.mean << " +- " << s.standard_error
        << " should differ from " << d_s;
  }
}

}  // namespace
}  // namespace onestep::distill
