// Every divergence written once: its names, and f, h = f'' r^2, h - r h' and r^2 h'' as
// templates over the value type, instantiated for double (quadrature, tests) and for tensors of
// ratios (the estimator). The expressions use only operations both types have.

#include "onestep/distill/divergence.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::distill {

namespace {

struct DivergenceName {
  DivergenceKind kind;
  const char* name;   // as the CLI and run files spell it
  const char* alias;  // also accepted by parse_divergence; "" for none
};

const DivergenceName kNames[] = {
    {DivergenceKind::reverse_kl, "reverse-kl", "rkl"},
    {DivergenceKind::forward_kl, "forward-kl", "fkl"},
    {DivergenceKind::jeffreys, "jeffreys", ""},
    {DivergenceKind::jensen_shannon, "js", "jensen-shannon"},
    {DivergenceKind::pearson_chi2, "chi2", "pearson-chi2"},
    {DivergenceKind::squared_hellinger, "hellinger", ""},
    {DivergenceKind::alpha, "alpha", ""},
    {DivergenceKind::softened_rkl, "softened-rkl", ""},
    {DivergenceKind::official_jeffreys, "jeffreys-official", ""},
};

// The scalar counterparts of the tensor ops the formulas use.
double square(double x) {
  return x * x;
}
double reciprocal(double x) {
  return 1.0 / x;
}
double constant_like(double /*r*/, double c) {
  return c;
}
Tensor constant_like(const Tensor& r, double c) {
  return full_like(r, c);
}
using std::log;
using std::pow;
using std::sqrt;

template <class V>
V f_of(DivergenceKind kind, double a, const V& r) {
  switch (kind) {
    case DivergenceKind::reverse_kl:
      return -log(r);
    case DivergenceKind::forward_kl:
      return r * log(r);
    case DivergenceKind::jeffreys:
      return (r - 1.0) * log(r);
    case DivergenceKind::jensen_shannon:
      return r * log(r) - (r + 1.0) * log((r + 1.0) * 0.5);
    case DivergenceKind::pearson_chi2:
      return square(r - 1.0);
    case DivergenceKind::squared_hellinger:
      return square(sqrt(r) - 1.0);
    case DivergenceKind::alpha:
      return (pow(r, a) - r * a - (1.0 - a)) / (a * (a - 1.0));
    case DivergenceKind::softened_rkl:
      return (r + 1.0) * log((r + 1.0) / (r * 2.0));
    case DivergenceKind::official_jeffreys:
      return r * 0.4 * log(r) - log(r) * 0.6;
  }
  ONESTEP_FAIL("unknown divergence {}", static_cast<int>(kind));
}

template <class V>
V h_of(DivergenceKind kind, double a, const V& r) {
  switch (kind) {
    case DivergenceKind::reverse_kl:
      return constant_like(r, 1.0);
    case DivergenceKind::forward_kl:
      return r * 1.0;
    case DivergenceKind::jeffreys:
      return r + 1.0;
    case DivergenceKind::jensen_shannon:
      return r / (r + 1.0);
    case DivergenceKind::pearson_chi2:
      return square(r) * 2.0;
    case DivergenceKind::squared_hellinger:
      return sqrt(r) * 0.5;
    case DivergenceKind::alpha:
      return pow(r, a);
    case DivergenceKind::softened_rkl:
      return reciprocal(r + 1.0);
    case DivergenceKind::official_jeffreys:
      return r * 0.4 + 0.6;
  }
  ONESTEP_FAIL("unknown divergence {}", static_cast<int>(kind));
}

template <class V>
V h_minus_r_hprime_of(DivergenceKind kind, double a, const V& r) {
  switch (kind) {
    case DivergenceKind::reverse_kl:
    case DivergenceKind::jeffreys:
      return constant_like(r, 1.0);
    case DivergenceKind::forward_kl:
      return constant_like(r, 0.0);
    case DivergenceKind::jensen_shannon:
      return square(r / (r + 1.0));
    case DivergenceKind::pearson_chi2:
      return square(r) * -2.0;
    case DivergenceKind::squared_hellinger:
      return sqrt(r) * 0.25;
    case DivergenceKind::alpha:
      return pow(r, a) * (1.0 - a);
    case DivergenceKind::softened_rkl:
      return (r * 2.0 + 1.0) / square(r + 1.0);
    case DivergenceKind::official_jeffreys:
      return constant_like(r, 0.6);
  }
  ONESTEP_FAIL("unknown divergence {}", static_cast<int>(kind));
}

template <class V>
V r2_hsecond_of(DivergenceKind kind, double a, const V& r) {
  switch (kind) {
    case DivergenceKind::reverse_kl:
    case DivergenceKind::forward_kl:
    case DivergenceKind::jeffreys:
    case DivergenceKind::official_jeffreys:
      return constant_like(r, 0.0);
    case DivergenceKind::jensen_shannon:
      return square(r) * -2.0 / pow(r + 1.0, 3.0);
    case DivergenceKind::pearson_chi2:
      return square(r) * 4.0;
    case DivergenceKind::squared_hellinger:
      return sqrt(r) * -0.125;
    case DivergenceKind::alpha:
      return pow(r, a) * (a * (a - 1.0));
    case DivergenceKind::softened_rkl:
      return square(r) * 2.0 / pow(r + 1.0, 3.0);
  }
  ONESTEP_FAIL("unknown divergence {}", static_cast<int>(kind));
}

}  // namespace

Divergence::Divergence(DivergenceKind kind, double alpha) : kind_(kind), alpha_(alpha) {
  ONESTEP_CHECK(kind != DivergenceKind::alpha || (std::isfinite(alpha) && alpha != 0 && alpha != 1),
                "alpha-divergence: alpha must be finite and not 0 or 1, got {}", alpha);
}

std::string Divergence::name() const {
  if (kind_ == DivergenceKind::alpha) return fmt::format("alpha({})", alpha_);
  for (const DivergenceName& n : kNames)
    if (n.kind == kind_) return n.name;
  ONESTEP_FAIL("unknown divergence {}", static_cast<int>(kind_));
}

Tensor Divergence::h(const Tensor& r) const {
  return h_of(kind_, alpha_, r);
}
Tensor Divergence::h_minus_r_hprime(const Tensor& r) const {
  return h_minus_r_hprime_of(kind_, alpha_, r);
}
Tensor Divergence::r2_hsecond(const Tensor& r) const {
  return r2_hsecond_of(kind_, alpha_, r);
}
Tensor Divergence::f(const Tensor& r) const {
  return f_of(kind_, alpha_, r);
}
double Divergence::h(double r) const {
  return h_of(kind_, alpha_, r);
}
double Divergence::h_minus_r_hprime(double r) const {
  return h_minus_r_hprime_of(kind_, alpha_, r);
}
double Divergence::r2_hsecond(double r) const {
  return r2_hsecond_of(kind_, alpha_, r);
}
double Divergence::f(double r) const {
  return f_of(kind_, alpha_, r);
}

const std::vector<std::string>& divergence_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const DivergenceName& n : kNames) v.push_back(n.name);
    return v;
  }();
  return names;
}

std::vector<Divergence> named_divergences(const std::vector<double>& alphas) {
  std::vector<Divergence> divergences;
  for (const DivergenceName& n : kNames) {
    if (n.kind != DivergenceKind::alpha) {
      divergences.push_back(Divergence(n.kind));
      continue;
    }
    for (double alpha : alphas) divergences.push_back(Divergence(n.kind, alpha));
  }
  return divergences;
}

Divergence parse_divergence(const std::string& name, double alpha) {
  for (const DivergenceName& n : kNames)
    if (name == n.name || (*n.alias != '\0' && name == n.alias))
      return n.kind == DivergenceKind::alpha ? Divergence(n.kind, alpha) : Divergence(n.kind);
  ONESTEP_FAIL("unknown divergence '{}': expected one of {}", name,
               fmt::join(divergence_names(), ", "));
}

}  // namespace onestep::distill
