#include "onestep/distill/generator_loss.h"

#include <cmath>

#include "onestep/distill/sim.h"
#include "onestep/engine.h"
#include "onestep/run/process_group.h"

namespace onestep::distill {

namespace {

Shape per_sample_shape(const Tensor& x) {
  Shape s(x.dim(), 1);
  s[0] = x.size(0);
  return s;
}

// mean over each sample's elements: [N]
Tensor per_sample_mean(const Tensor& x) {
  return x.dim() == 1 ? x : mean(x.reshape({x.size(0), -1}), {1});
}

}  // namespace

Tensor density_ratio(const Tensor& logit, bool normalise) {
  // r in [1e-3, 1e3]; outside that range it is constant (no gradient).
  Tensor r = exp(clamp(logit, std::log(1e-3), std::log(1e3)));
  // Normalised by the mean over the whole global batch (on every data-parallel rank).
  if (normalise) r = r / run::global_batch_mean(r);
  return r;
}

Tensor sample_normaliser(const Tensor& x_g, const Tensor& d_p) {
  NoGradGuard no_grad;
  return clamp(per_sample_mean(abs(x_g - d_p)), 1e-5, 1e30);
}

GeneratorLoss generator_loss(const Method& m, const GeneratorStep& s, bool sim_only) {
  const int64_t n = s.x_g.size(0);
  ONESTEP_CHECK(!m.uses_ratio || sim_only || s.logit.defined(),
                "{}: the generator loss needs discriminator logits", m.name);
  GeneratorLoss out;
  const Tensor nu = sample_normaliser(s.x_g, s.d_p);
  const Tensor delta = s.d_p - s.d_q;
  // <sg(v), x_g> has gradient v dx_g/dtheta: the "direction" losses of DI, DMD and f-distill.
  auto direction_loss = [&](const Tensor& v) {
    Tensor stopped;
    {
      NoGradGuard no_grad;
      stopped = v.detach();
    }
    return per_sample_dot(stopped, s.x_g);
  };
  switch (m.kind) {
    case MethodKind::uni_instruct:
    case MethodKind::uni_instruct_official: {
      Tensor r = ones({n}, s.x_g.dtype(), s.x_g.device());
      Divergence divergence = m.divergence;
      RatioGradient mode = m.ratio_gradient;
      if (sim_only) {
        divergence = Divergence(DivergenceKind::reverse_kl);  // h = 1: the SIM term alone
        mode = RatioGradient::none;
      } else {
        r = density_ratio(s.logit.reshape({n}), m.normalise_ratio);
        out.mean_ratio = mean(r.detach()).item();
      }
      const UniInstructTerms t = uni_instruct_terms({s.x_g, s.x_t, s.d_p, s.d_q, r, s.sigma},
                                                    divergence, mode, m.path_term && !sim_only);
      out.score = (sim_only ? t.sim : t.total()) / nu;
      break;
    }
    case MethodKind::sid:
    case MethodKind::sida:
      out.score = (per_sample_dot(delta, delta) * (1.0 - m.sid_alpha) +
                   per_sample_dot(delta, s.d_q - s.x_g)) /
                  nu;
      break;
    case MethodKind::sim:
      out.score = pseudo_huber_sim_terms(s.x_g, s.d_p, s.d_q, s.sigma, m.sim_c).total() / nu;
      break;
    case MethodKind::diff_instruct:
      out.score = direction_loss(s.d_q - s.d_p);
      break;
    case MethodKind::dmd:
    case MethodKind::dmd2:
      out.score = direction_loss((s.d_q - s.d_p) / nu.reshape(per_sample_shape(s.x_g)));
      break;
    case MethodKind::f_distill: {
      Tensor weight = ones({n}, s.x_g.dtype(), s.x_g.device());
      if (!sim_only) {
        NoGradGuard no_grad;
        const Tensor h = m.divergence.h(density_ratio(s.logit.reshape({n}), m.normalise_ratio));
        weight = h / run::global_batch_mean(h);  // h normalised over the global batch
        out.mean_ratio = mean(density_ratio(s.logit.reshape({n}), m.normalise_ratio)).item();
      }
      out.score = direction_loss((s.d_q - s.d_p) * (weight / nu).reshape(per_sample_shape(s.x_g)));
      break;
    }
  }
  if (m.gan_weight > 0 && !sim_only) {
    ONESTEP_CHECK(s.logit.defined(), "{}: the GAN term needs discriminator logits", m.name);
    out.gan = softplus(neg(clamp(s.logit.reshape({n}), -10.0, 10.0)));
    // The official SiDA/Uni-Instruct code divides its batch-mean BCE by each sample's nu and
    // averages: the batch's GAN loss times the batch mean of 1/nu.
    if (m.gan_over_nu) out.gan = out.gan * run::global_batch_mean(reciprocal(nu));
  }
  return out;
}

Tensor generator_objective(const Method& m, const GeneratorLoss& parts, double score_scale,
                           int64_t elements_per_sample, const Tensor& regression_mse) {
  ONESTEP_CHECK(elements_per_sample > 0 && score_scale > 0,
                "generator objective: need elements per sample and score scale > 0, got {} and {}",
                elements_per_sample, score_scale);
  Tensor objective = mean(parts.score) * (score_scale / static_cast<double>(elements_per_sample));
  if (parts.gan.defined()) objective = objective + mean(parts.gan) * m.gan_weight;
  if (regression_mse.defined())
    objective = objective + regression_mse * (m.regression_weight * score_scale);
  return objective;
}

}  // namespace onestep::distill
