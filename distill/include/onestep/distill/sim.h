#pragma once
// Score implicit matching (SIM) with the pseudo-Huber distance d(y) = sqrt(|y|^2 + c^2) - c of
// the score difference y = s_p - s_q = Delta / sigma^2 (Delta = D_p - D_q at x_t, summed over
// every element of a sample).
//
// The exact gradient of E_{x_t ~ q_sigma}[d(y(x_t))] with respect to the generator, derived as
// Theorem 3.2 derives Uni-Instruct's (the fake score's dependence on theta turned into a
// gradient through the samples by the score identity), is that of
//   d(y) + d'(y)^T (D_q - x_g) / sigma^2,   d'(y) = y / sqrt(|y|^2 + c^2),
// every factor differentiated through x_t with the networks' parameters frozen. Multiplied by
// c sigma^4, so that the loss has the units of SiD's and tends to SiD with alpha = 1/2 (the exact
// L2 estimator) as c grows:
//   l_SIM = c <Delta, D_q - x_g> / S          (SIM term, S = sqrt(|y|^2 + c^2))
//         + c |Delta|^2 / (S + c)             (path term: c sigma^4 d(y), written without the
//                                              cancellation of S - c when |y| << c)
// and grad_theta E[d(y)] = E[grad_theta l_SIM] / (c sigma^4). Without the path term (what
// onestep trained before) the estimator is biased; in the L2 limit it is SiD with alpha = 1.

#include "onestep/engine/tensor.h"

namespace onestep::distill {

struct SimTerms {
  Tensor sim, path;  // [N] each
  Tensor total() const;
};

// x_g, d_p, d_q: [N, ...]; sigma: [N] (used as a constant); c > 0.
SimTerms pseudo_huber_sim_terms(const Tensor& x_g, const Tensor& d_p, const Tensor& d_q,
                                const Tensor& sigma, double c);

}  // namespace onestep::distill
