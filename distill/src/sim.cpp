#include "onestep/distill/sim.h"

#include "onestep/distill/uni_instruct.h"
#include "onestep/engine.h"

namespace onestep::distill {

Tensor SimTerms::total() const {
  return sim + path;
}

SimTerms pseudo_huber_sim_terms(const Tensor& x_g, const Tensor& d_p, const Tensor& d_q,
                                const Tensor& sigma, double c) {
  const int64_t n = x_g.size(0);
  ONESTEP_CHECK(c > 0, "SIM: the pseudo-Huber constant c must be positive, got {}", c);
  ONESTEP_CHECK(d_p.shape() == x_g.shape() && d_q.shape() == x_g.shape() && sigma.numel() == n,
                "SIM: x_g {}, D_p {}, D_q {} must share a shape and sigma hold {} values, got {}",
                shape_str(x_g.shape()), shape_str(d_p.shape()), shape_str(d_q.shape()), n,
                sigma.numel());
  const Tensor sigma2 = square(sigma.reshape({n}).detach());
  const Tensor delta = d_p - d_q;  // gradients through x_t
  const Tensor delta_sq = per_sample_dot(delta, delta);
  const Tensor root = sqrt(delta_sq / square(sigma2) + c * c);  // S = sqrt(|y|^2 + c^2)
  SimTerms t;
  t.sim = per_sample_dot(delta, d_q - x_g) / root * c;
  t.path = delta_sq / (root + c) * c;
  return t;
}

}  // namespace onestep::distill
