#pragma once
// The f-divergences of Uni-Instruct (docs/DISTILL.md). With r = p/q (teacher over student) and
// h(r) = f''(r) r^2, the estimator needs h, h - r h' and r^2 h'', as differentiable functions of
// a tensor of ratios.

#include <string>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep::distill {

enum class DivergenceKind {
  reverse_kl,         // KL(q||p): f = -log r
  forward_kl,         // KL(p||q): f = r log r
  jeffreys,           // FKL + RKL: f = (r - 1) log r
  jensen_shannon,     // f = r log r - (r + 1) log((r + 1) / 2)
  pearson_chi2,       // f = (r - 1)^2
  squared_hellinger,  // f = (sqrt r - 1)^2
  alpha,              // Amari: f = (r^a - a r - (1 - a)) / (a (a - 1))
  softened_rkl,       // f = (r + 1) log((r + 1) / (2 r))
  official_jeffreys,  // the official code's "Jeffreys": 0.4 FKL + 0.6 RKL, h = 0.4 r + 0.6
};

class Divergence {
 public:
  explicit Divergence(DivergenceKind kind, double alpha = 1.5);
  DivergenceKind kind() const { return kind_; }
  double alpha() const { return alpha_; }
  std::string name() const;

  // Each formula exists once (divergence.cpp), for a tensor of ratios and for one ratio.
  Tensor h(const Tensor& r) const;                 // f''(r) r^2
  Tensor h_minus_r_hprime(const Tensor& r) const;  // h - r h'
  Tensor r2_hsecond(const Tensor& r) const;        // r^2 h''
  Tensor f(const Tensor& r) const;
  double h(double r) const;
  double h_minus_r_hprime(double r) const;
  double r2_hsecond(double r) const;
  double f(double r) const;

 private:
  DivergenceKind kind_;
  double alpha_;
};

// "reverse-kl", "forward-kl", "jeffreys", "js", "chi2", "hellinger", "alpha", "softened-rkl",
// "jeffreys-official". Throws onestep::Error listing the valid names.
Divergence parse_divergence(const std::string& name, double alpha = 1.5);
const std::vector<std::string>& divergence_names();
// Every divergence divergence_names() lists, in its order; alpha once for each of `alphas`.
std::vector<Divergence> named_divergences(const std::vector<double>& alphas = {1.5});

}  // namespace onestep::distill
