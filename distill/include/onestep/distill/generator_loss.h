#pragma once
// The generator's loss for every method, from the quantities of one generator step.

#include "onestep/distill/methods.h"
#include "onestep/engine/tensor.h"

namespace onestep::distill {

struct GeneratorStep {
  Tensor x_g;    // [N, ...] generator samples (graph to theta)
  Tensor x_t;    // [N, ...] x_g + sigma eps
  Tensor d_p;    // [N, ...] teacher denoiser at x_t (graph through x_t)
  Tensor d_q;    // [N, ...] fake denoiser at x_t (graph through x_t)
  Tensor logit;  // [N] discriminator logit at x_t (graph through x_t), or undefined
  Tensor sigma;  // [N]
};

struct GeneratorLoss {
  Tensor score;  // [N] the method's score-based loss, divided by the normaliser nu
  Tensor gan;    // [N] non-saturating GAN loss softplus(-clamp(logit, +-10)) (times the batch
                 // mean of 1/nu with Method::gan_over_nu), or undefined
  double mean_ratio = 1.0;  // mean density ratio used (1 when the method uses none)
};

// The density ratio r = clamp(exp(logit), 1e-3, 1e3), divided by its (stop-gradient) batch
// mean when normalise is set. Keeps the graph through the logit.
Tensor density_ratio(const Tensor& logit, bool normalise);

// nu = sg(mean |x_g - D_p|) per sample, at least 1e-5 (SiD/DMD practice).
Tensor sample_normaliser(const Tensor& x_g, const Tensor& d_p);

// sim_only: the warm-up phase, where divergence weights are off (h = 1) and no GAN.
GeneratorLoss generator_loss(const Method& method, const GeneratorStep& step, bool sim_only);

// The scalar a generator update minimises: score_scale x the score loss averaged over the batch
// and over each sample's elements (so that score_scale = 100 and the GAN weight 0.01 relate as
// in the official code), + gan_weight x the batch mean of the GAN loss, + regression_weight x
// score_scale x the DMD regression MSE when one is given.
Tensor generator_objective(const Method& method, const GeneratorLoss& parts, double score_scale,
                           int64_t elements_per_sample, const Tensor& regression_mse = Tensor());

}  // namespace onestep::distill
