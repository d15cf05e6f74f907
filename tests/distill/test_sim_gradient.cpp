// SIM with the pseudo-Huber distance (distill/sim.h) is exact: with a 1-D Gaussian teacher
// N(0.5, 1), a generator mu + s z, exact denoisers in place of networks, the Monte-Carlo mean of
// grad l_SIM / (c sigma^4) equals the gradient of E_{q_sigma}[sqrt(y^2 + c^2) - c],
// y = s_p - s_q, computed by Gauss-Hermite quadrature and central differences, for mu and s,
// c in {0.1, 1, 10} and sigma in {0.3, 1, 2.5}. Without the path term (the SIM term alone, what
// onestep trained before) the gradient is biased.

#include <gtest/gtest.h>

#include <cmath>

#include "gauss_hermite.h"
#include "gaussian_1d.h"
#include "onestep/distill/sim.h"
#include "onestep/engine.h"

namespace onestep::distill {
namespace {

constexpr double kTeacherMean = 0.5;  // p = N(0.5, 1)
constexpr double kMu = 0.1, kS = 1.25;

using quadrature::gauss_hermite;
using quadrature::Quadrature;

// E_{x ~ q_sigma}[d(y(x))] by quadrature, q_sigma = N(mu, s^2 + sigma^2).
double objective(double c, double mu, double s, double sigma, const Quadrature& q) {
  const double vp = 1 + sigma * sigma, vq = s * s + sigma * sigma;
  double total = 0;
  for (size_t i = 0; i < q.nodes.size(); ++i) {
    const double x = mu + std::sqrt(vq) * q.nodes[i];
    const double y = -(x - kTeacherMean) / vp + (x - mu) / vq;
    total += q.weights[i] * (std::sqrt(y * y + c * c) - c);
  }
  return total;
}

struct Estimate {
  double mean, standard_error;
};

// Monte-Carlo E[grad l] / (c sigma^4) for mu and s, per-sample gradients.
std::pair<Estimate, Estimate> monte_carlo(double c, double sigma, bool with_path_term, int64_t n,
                                          uint64_t seed) {
  const testing::Gaussian1d g = testing::gaussian_1d(kTeacherMean, kMu, kS, sigma, n, seed);
  const SimTerms terms = pseudo_huber_sim_terms(g.x_g, g.d_p, g.d_q, g.sigma, c);
  const Tensor loss = with_path_term ? terms.total() : terms.sim;
  const auto grads = autograd::grad({sum(loss)}, {g.mu, g.s});
  auto estimate = [&](const Tensor& gradient) {
    const Tensor scaled = gradient * (1.0 / (c * std::pow(sigma, 4)));
    return Estimate{mean(scaled).item(), std::sqrt(var(scaled).item() / static_cast<double>(n))};
  };
  return {estimate(grads[0]), estimate(grads[1])};
}

constexpr int64_t kSamples = 400000;

std::pair<double, double> quadrature_gradient(double c, double sigma, const Quadrature& q) {
  const double step = 1e-5;
  return {(objective(c, kMu + step, kS, sigma, q) - objective(c, kMu - step, kS, sigma, q)) /
              (2 * step),
          (objective(c, kMu, kS + step, sigma, q) - objective(c, kMu, kS - step, sigma, q)) /
              (2 * step)};
}

TEST(SimGradient, MatchesTheQuadratureGradient) {
  const Quadrature q = gauss_hermite(120);
  for (double c : {0.1, 1.0, 10.0}) {
    for (double sigma : {0.3, 1.0, 2.5}) {
      const auto [d_mu, d_s] = quadrature_gradient(c, sigma, q);
      const auto [mu, s] = monte_carlo(c, sigma, true, kSamples, 23);
      const std::string where = fmt::format("c {} sigma {}", c, sigma);
      std::printf("%s: mu %.5f +- %.5f (quadrature %.5f), s %.5f +- %.5f (quadrature %.5f)\n",
                  where.c_str(), mu.mean, mu.standard_error, d_mu, s.mean, s.standard_error, d_s);
      EXPECT_LE(std::abs(mu.mean - d_mu), 4 * mu.standard_error + 1e-7)
          << where << ": mu-gradient " << mu.mean << " vs " << d_mu;
      EXPECT_LE(std::abs(s.mean - d_s), 4 * s.standard_error + 1e-7)
          << where << ": s-gradient " << s.mean << " vs " << d_s;
    }
  }
}

TEST(SimGradient, TheSimTermAloneIsBiased) {
  const Quadrature q = gauss_hermite(120);
  for (double c : {0.1, 1.0, 10.0}) {
    const double sigma = 0.3;
    const auto [d_mu, d_s] = quadrature_gradient(c, sigma, q);
    const auto [mu, s] = monte_carlo(c, sigma, false, kSamples, 24);
    std::printf("c %g sigma %g, SIM term alone: mu %.5f +- %.5f (quadrature %.5f)\n", c, sigma,
                mu.mean, mu.standard_error, d_mu);
    EXPECT_GT(std::abs(mu.mean - d_mu), 6 * mu.standard_error)
        << "c " << c << ": the SIM term alone should miss the mu-gradient " << d_mu;
  }
}

}  // namespace
}  // namespace onestep::distill
