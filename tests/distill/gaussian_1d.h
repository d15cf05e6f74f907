#pragma once
// The 1-D setting of the gradient-equivalence tests: teacher p = N(teacher_mean, 1), generator
// x_g = mu + s z, x_t = x_g + sigma eps, and the exact denoisers (the fake one at theta's values,
// as a frozen network would be). mu and s have one copy per sample, so that autograd yields
// per-sample gradients for the Monte-Carlo standard errors.

#include <cmath>

#include "onestep/engine.h"

namespace onestep::distill::testing {

struct Gaussian1d {
  Tensor mu, s;      // [n, 1] each, requiring grad
  Tensor x_g, x_t;   // [n, 1]
  Tensor d_p, d_q;   // [n, 1] exact teacher and fake denoisers at x_t
  Tensor log_ratio;  // [n, 1] log p_sigma(x_t) - log q_sigma(x_t)
  Tensor sigma;      // [n]
};

inline Gaussian1d gaussian_1d(double teacher_mean, double mu_value, double s_value, double sigma,
                              int64_t n, uint64_t seed) {
  Rng gen(seed);
  Gaussian1d g;
  g.mu = full({n, 1}, mu_value, DType::f64).set_requires_grad(true);
  g.s = full({n, 1}, s_value, DType::f64).set_requires_grad(true);
  const Tensor z = randn({n, 1}, gen, DType::f64), eps = randn({n, 1}, gen, DType::f64);
  g.x_g = g.mu + g.s * z;
  g.x_t = g.x_g + eps * sigma;
  const double vp = 1 + sigma * sigma, vq = s_value * s_value + sigma * sigma;
  g.d_p = (g.x_t - teacher_mean) * (1.0 / vp) + teacher_mean;
  g.d_q = (g.x_t - mu_value) * (s_value * s_value / vq) + mu_value;
  g.log_ratio = (square(g.x_t - teacher_mean) * (-0.5 / vp) - 0.5 * std::log(vp)) -
                (square(g.x_t - mu_value) * (-0.5 / vq) - 0.5 * std::log(vq));
  g.sigma = full({n}, sigma, DType::f64);
  return g;
}

}  // namespace onestep::distill::testing
