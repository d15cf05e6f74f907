#pragma once
// The Uni-Instruct estimator (docs/DISTILL.md; the paper's Theorem 3.2). For generator samples
// x_g, noisy x_t = x_g + sigma eps, teacher and fake denoisers D_p = D_p(x_t), D_q = D_psi(x_t)
// (frozen parameters, gradients through x_t), Delta = D_p - D_q and the density ratio r = r(x_t):
//
//   l_UI = h(r) <Delta, D_q - x_g>                                   (SIM term)
//        + (h(r) - r h'(r)) 1/2 |Delta|^2                             (path term)
//        + < sg(r^2 h''(r) / (2 sigma^2) |Delta|^2 (D_q - D_p)), x_g > (DI term)
//
// and grad_theta J_f(theta; sigma) = (2 / sigma^4) E[grad_theta l_UI]. The DI term is the
// gradient of the path term's coefficient through r (using grad_x r = r (s_p - s_q)), so the
// two must not both be counted; every dependence on r is differentiated one way or the other:
// - RatioGradient::through_discriminator: h(r) and the path coefficient keep their gradient
//   through x_t (r is the discriminator's output, with its graph); the DI term is then zero.
//   With a learned r this avoids the closed forms' factor |Delta|^2 / sigma^2, which at small
//   sigma multiplies the denoisers' errors (on Fashion-MNIST it made every divergence with
//   r^2 h'' != 0 collapse).
// - RatioGradient::closed_form: both stop-gradient; the DI term and the ratio term
//   < sg(r h'(r) / sigma^2 <Delta, D_q - x_g> Delta), x_t > supply their gradients.
// - RatioGradient::none: both stop-gradient, DI term, no ratio term (biased; the official code).
// Every term is per sample: [N].

#include "onestep/distill/divergence.h"
#include "onestep/engine/tensor.h"

namespace onestep::distill {

enum class RatioGradient {
  through_discriminator,  // h(r) and the path coefficient keep their gradient (r has a graph)
  closed_form,            // stop-gradient r plus the closed-form ratio and DI terms
  none,                   // h(r) stop-gradient, no ratio term (biased; the official code)
};

struct UniInstructInputs {
  Tensor x_g;    // [N, ...] generator samples, with their graph to theta
  Tensor x_t;    // [N, ...] x_g + sigma * eps
  Tensor d_p;    // [N, ...] teacher denoiser at x_t
  Tensor d_q;    // [N, ...] fake-score denoiser at x_t
  Tensor r;      // [N] density ratio at x_t
  Tensor sigma;  // [N] noise levels
};

struct UniInstructTerms {
  Tensor sim, path, di, ratio;  // [N] each (ratio undefined unless closed_form; di zero when
                                // through_discriminator with the path term)
  Tensor total() const;
};

UniInstructTerms uni_instruct_terms(const UniInstructInputs& in, const Divergence& divergence,
                                    RatioGradient ratio_gradient, bool path_term = true);

// <a, b> over every dim but the first: [N].
Tensor per_sample_dot(const Tensor& a, const Tensor& b);

}  // namespace onestep::distill
