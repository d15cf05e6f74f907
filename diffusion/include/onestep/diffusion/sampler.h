#pragma once
// EDM's deterministic samplers (Karras et al. 2022, Algorithm 1): Heun (2N-1 network
// evaluations) and Euler (N), on the noise levels
//   t_i = (s_max^(1/rho) + i/(N-1) (s_min^(1/rho) - s_max^(1/rho)))^rho, i < N, t_N = 0.

#include <functional>
#include <string>
#include <vector>

#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

// D(x; sigma) for a whole batch at one noise level.
using DenoiseFn = std::function<Tensor(const Tensor& x, double sigma)>;

enum class SamplerMethod { heun, euler };
SamplerMethod parse_sampler_method(const std::string& name);  // "heun" | "euler"

struct SamplerOptions {
  int64_t steps = 18;
  double sigma_min = 0.002;
  double sigma_max = 80.0;
  double rho = 7.0;
  SamplerMethod method = SamplerMethod::heun;
  void validate() const;
};

// t_0 > t_1 > ... > t_{N-1} > t_N = 0 (N + 1 values).
std::vector<double> karras_sigmas(const SamplerOptions& options);
// n random noise levels of the Karras grid (the generator's in distillation):
// sigma = (smax^(1/rho) + (1 - u)(smin^(1/rho) - smax^(1/rho)))^rho with u ~ U[0, u_max];
// u_max 0.8 gives sigma in [0.002, 24.4]. Drawn on `device` (the same numbers on every device).
Tensor karras_grid_sigmas(int64_t n, double sigma_min, double sigma_max, double rho, double u_max,
                          Rng& gen, DType dtype = DType::f32, Device device = Device::cpu());
// Network evaluations of one sampling run.
int64_t sampler_nfe(const SamplerOptions& options);

// Integrates the probability-flow ODE from x = latents * t_0 (latents: unit-variance noise) to
// sigma = 0, without recording gradients.
Tensor edm_sample(const DenoiseFn& denoise, const Tensor& latents, const SamplerOptions& options);

}  // namespace onestep::diffusion
