#include "onestep/distill/uni_instruct.h"

#include "onestep/engine.h"

namespace onestep::distill {

Tensor per_sample_dot(const Tensor& a, const Tensor& b) {
  ONESTEP_CHECK(a.shape() == b.shape() && a.dim() >= 1, "per_sample_dot: shapes {} and {} differ",
                shape_str(a.shape()), shape_str(b.shape()));
  const Tensor product = a * b;
  return a.dim() == 1 ? product : sum(product.reshape({a.size(0), -1}), {1});
}

Tensor UniInstructTerms::total() const {
  Tensor t = sim + path + di;
  return ratio.defined() ? t + ratio : t;
}

UniInstructTerms uni_instruct_terms(const UniInstructInputs& in, const Divergence& divergence,
                                    RatioGradient ratio_gradient, bool path_term) {
  const int64_t n = in.x_g.size(0);
  ONESTEP_CHECK(in.x_t.shape() == in.x_g.shape() && in.d_p.shape() == in.x_g.shape() &&
                    in.d_q.shape() == in.x_g.shape(),
                "uni_instruct: x_g {}, x_t {}, D_p {} and D_q {} must share a shape",
                shape_str(in.x_g.shape()), shape_str(in.x_t.shape()), shape_str(in.d_p.shape()),
                shape_str(in.d_q.shape()));
  ONESTEP_CHECK(in.r.numel() == n && in.sigma.numel() == n,
                "uni_instruct: need one ratio and one sigma per sample ({}), got {} and {}", n,
                in.r.numel(), in.sigma.numel());
  const Tensor r = in.r.reshape({n});
  const Tensor r_stopped = r.detach();
  const Tensor sigma2 = square(in.sigma.reshape({n}).detach());
  const Tensor delta = in.d_p - in.d_q;  // gradients through x_t
  const Tensor delta_sq = per_sample_dot(delta, delta);
  const Tensor sim_direction = per_sample_dot(delta, in.d_q - in.x_g);
  Shape per_sample(in.x_g.dim(), 1);
  per_sample[0] = n;

  const bool through_discriminator = ratio_gradient == RatioGradient::through_discriminator;
  UniInstructTerms t;
  t.sim = divergence.h(through_discriminator ? r : r_stopped) * sim_direction;
  // Through the discriminator, the path coefficient's dependence on x_t is differentiated like
  // h(r) in the SIM term, and that gradient *is* the DI term. Otherwise the coefficient is
  // stop-gradient and the DI term supplies its gradient in closed form, grad_x r = r Delta /
  // sigma^2, which multiplies the denoisers' errors by |Delta|^2 / sigma^2.
  t.path = path_term
               ? divergence.h_minus_r_hprime(through_discriminator ? r : r_stopped) * delta_sq * 0.5
               : zeros({n}, in.x_g.dtype(), in.x_g.device());
  Tensor di_direction, ratio_direction;
  {
    NoGradGuard no_grad;
    if (!through_discriminator || !path_term) {
      const Tensor coefficient = divergence.r2_hsecond(r_stopped) / (sigma2 * 2.0) * delta_sq;
      di_direction = coefficient.reshape(per_sample) * (in.d_q - in.d_p);
    }
    if (ratio_gradient == RatioGradient::closed_form) {
      // grad_x h(r(x)) = h'(r) r (s_p - s_q) = r h'(r) Delta / sigma^2
      const Tensor r_hprime = divergence.h(r_stopped) - divergence.h_minus_r_hprime(r_stopped);
      ratio_direction = (r_hprime / sigma2 * sim_direction).reshape(per_sample) * delta;
    }
  }
  t.di = di_direction.defined() ? per_sample_dot(di_direction, in.x_g)
                                : zeros({n}, in.x_g.dtype(), in.x_g.device());
  if (ratio_direction.defined()) t.ratio = per_sample_dot(ratio_direction, in.x_t);
  return t;
}

}  // namespace onestep::distill
