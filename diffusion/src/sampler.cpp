#include "onestep/diffusion/sampler.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::diffusion {

SamplerMethod parse_sampler_method(const std::string& name) {
  if (name == "heun") return SamplerMethod::heun;
  if (name == "euler") return SamplerMethod::euler;
  ONESTEP_FAIL("unknown sampler '{}': expected heun or euler", name);
}

void SamplerOptions::validate() const {
  ONESTEP_CHECK(steps >= 1, "sampler: steps must be >= 1, got {}", steps);
  ONESTEP_CHECK(sigma_min > 0 && sigma_max > sigma_min && std::isfinite(sigma_max),
                "sampler: need 0 < sigma_min < sigma_max < inf, got {} and {}", sigma_min,
                sigma_max);
  ONESTEP_CHECK(rho > 0 && std::isfinite(rho), "sampler: rho must be positive, got {}", rho);
}

std::vector<double> karras_sigmas(const SamplerOptions& o) {
  o.validate();
  std::vector<double> t;
  const double hi = std::pow(o.sigma_max, 1.0 / o.rho), lo = std::pow(o.sigma_min, 1.0 / o.rho);
  for (int64_t i = 0; i < o.steps; ++i) {
    const double fraction =
        o.steps == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(o.steps - 1);
    t.push_back(std::pow(hi + fraction * (lo - hi), o.rho));
  }
  t.push_back(0.0);
  return t;
}

int64_t sampler_nfe(const SamplerOptions& o) {
  return o.method == SamplerMethod::heun ? 2 * o.steps - 1 : o.steps;
}

Tensor edm_sample(const DenoiseFn& denoise, const Tensor& latents, const SamplerOptions& o) {
  NoGradGuard no_grad;
  const std::vector<double> t = karras_sigmas(o);
  Tensor x = latents * t[0];
  for (int64_t i = 0; i < o.steps; ++i) {
    const double t_cur = t[i], t_next = t[i + 1];
    const Tensor d = (x - denoise(x, t_cur)) / t_cur;
    Tensor x_next = x + d * (t_next - t_cur);
    if (o.method == SamplerMethod::heun && t_next > 0) {
      // Second-order correction with the slope at the end of the step.
      const Tensor d_next = (x_next - denoise(x_next, t_next)) / t_next;
      x_next = x + (d + d_next) * (0.5 * (t_next - t_cur));
    }
    x = x_next;
  }
  return x;
}

Tensor karras_grid_sigmas(int64_t n, double sigma_min, double sigma_max, double rho, double u_max,
                          Rng& gen, DType dtype, Device device) {
  ONESTEP_CHECK(sigma_min > 0 && sigma_max > sigma_min && rho > 0 && u_max > 0 && u_max <= 1,
                "karras_grid_sigmas: need 0 < sigma_min < sigma_max, rho > 0, 0 < u_max <= 1");
  const double hi = std::pow(sigma_max, 1.0 / rho), lo = std::pow(sigma_min, 1.0 / rho);
  const Tensor u = rand({n}, gen, dtype, device) * u_max;
  return pow((1.0 - u) * (lo - hi) + hi, rho);
}

}  // namespace onestep::diffusion
