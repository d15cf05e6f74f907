#include "onestep/distill/divergence.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::distill {

Divergence::Divergence(DivergenceKind kind, double alpha) : kind_(kind), alpha_(alpha) {
  ONESTEP_CHECK(kind != DivergenceKind::alpha || (std::isfinite(alpha) && alpha != 0 && alpha != 1),
                "alpha-divergence: alpha must be finite and not 0 or 1, got {}", alpha);
}

std::string Divergence::name() const {
  switch (kind_) {
    case DivergenceKind::reverse_kl:
      return "reverse-kl";
    case DivergenceKind::forward_kl:
      return "forward-kl";
    case DivergenceKind::jeffreys:
      return "jeffreys";
    case DivergenceKind::jensen_shannon:
      return "js";
    case DivergenceKind::pearson_chi2:
      return "chi2";
    case DivergenceKind::squared_hellinger:
      return "hellinger";
    case DivergenceKind::alpha:
      return fmt::format("alpha({})", alpha_);
    case DivergenceKind::softened_rkl:
      return "softened-rkl";
    case DivergenceKind::official_jeffreys:
      return "jeffreys-official";
  }
  return "?";
}

Tensor Divergence::h(const Tensor& r) const {
  switch (kind_) {
    case DivergenceKind::reverse_kl:
      return ones_like(r);
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
      return pow(r, alpha_);
    case DivergenceKind::softened_rkl:
      return reciprocal(r + 1.0);
    case DivergenceKind::official_jeffreys:
      return r * 0.4 + 0.6;
  }
  ONESTEP_FAIL("unknown divergence");
}

Tensor Divergence::h_minus_r_hprime(const Tensor& r) const {
  switch (kind_) {
    case DivergenceKind::reverse_kl:
      return ones_like(r);
    case DivergenceKind::forward_kl:
      return zeros_like(r);
    case DivergenceKind::jeffreys:
      return ones_like(r);
    case DivergenceKind::jensen_shannon:
      return square(r / (r + 1.0));
    case DivergenceKind::pearson_chi2:
      return square(r) * -2.0;
    case DivergenceKind::squared_hellinger:
      return sqrt(r) * 0.25;
    case DivergenceKind::alpha:
      return pow(r, alpha_) * (1.0 - alpha_);
    case DivergenceKind::softened_rkl:
      return (r * 2.0 + 1.0) / square(r + 1.0);
    case DivergenceKind::official_jeffreys:
      return full_like(r, 0.6);
  }
  ONESTEP_FAIL("unknown divergence");
}

Tensor Divergence::r2_hsecond(const Tensor& r) const {
  switch (kind_) {
    case DivergenceKind::reverse_kl:
    case DivergenceKind::forward_kl:
    case DivergenceKind::jeffreys:
    case DivergenceKind::official_jeffreys:
      return zeros_like(r);
    case DivergenceKind::jensen_shannon:
      return square(r) * -2.0 / pow(r + 1.0, 3.0);
    case DivergenceKind::pearson_chi2:
      return square(r) * 4.0;
    case DivergenceKind::squared_hellinger:
      return sqrt(r) * -0.125;
    case DivergenceKind::alpha:
      return pow(r, alpha_) * (alpha_ * (alpha_ - 1.0));
    case DivergenceKind::softened_rkl:
      return square(r) * 2.0 / pow(r + 1.0, 3.0);
  }
  ONESTEP_FAIL("unknown divergence");
}

double Divergence::h(double r) const {
  switch (kind_) {
    case DivergenceKind::reverse_kl:
      return 1.0;
    case DivergenceKind::forward_kl:
      return r;
    case DivergenceKind::jeffreys:
      return r + 1.0;
    case DivergenceKind::jensen_shannon:
      return r / (r + 1.0);
    case DivergenceKind::pearson_chi2:
      return 2.0 * r * r;
    case DivergenceKind::squared_hellinger:
      return 0.5 * std::sqrt(r);
    case DivergenceKind::alpha:
      return std::pow(r, alpha_);
    case DivergenceKind::softened_rkl:
      return 1.0 / (r + 1.0);
    case DivergenceKind::official_jeffreys:
      return 0.4 * r + 0.6;
  }
  return 0;
}

double Divergence::f(double r) const {
  switch (kind_) {
    case DivergenceKind::reverse_kl:
      return -std::log(r);
    case DivergenceKind::forward_kl:
      return r * std::log(r);
    case DivergenceKind::jeffreys:
      return (r - 1.0) * std::log(r);
    case DivergenceKind::jensen_shannon:
      return r * std::log(r) - (r + 1.0) * std::log((r + 1.0) / 2.0);
    case DivergenceKind::pearson_chi2:
      return (r - 1.0) * (r - 1.0);
    case DivergenceKind::squared_hellinger:
      return (std::sqrt(r) - 1.0) * (std::sqrt(r) - 1.0);
    case DivergenceKind::alpha:
      return (std::pow(r, alpha_) - alpha_ * r - (1.0 - alpha_)) / (alpha_ * (alpha_ - 1.0));
    case DivergenceKind::softened_rkl:
      return (r + 1.0) * std::log((r + 1.0) / (2.0 * r));
    case DivergenceKind::official_jeffreys:
      return 0.4 * r * std::log(r) - 0.6 * std::log(r);
  }
  return 0;
}

const std::vector<std::string>& divergence_names() {
  static const std::vector<std::string> names = {"reverse-kl", "forward-kl",   "jeffreys",
                                                 "js",         "chi2",         "hellinger",
                                                 "alpha",      "softened-rkl", "jeffreys-official"};
  return names;
}

Divergence parse_divergence(const std::string& name, double alpha) {
  if (name == "reverse-kl" || name == "rkl") return Divergence(DivergenceKind::reverse_kl);
  if (name == "forward-kl" || name == "fkl") return Divergence(DivergenceKind::forward_kl);
  if (name == "jeffreys") return Divergence(DivergenceKind::jeffreys);
  if (name == "js" || name == "jensen-shannon") return Divergence(DivergenceKind::jensen_shannon);
  if (name == "chi2" || name == "pearson-chi2") return Divergence(DivergenceKind::pearson_chi2);
  if (name == "hellinger") return Divergence(DivergenceKind::squared_hellinger);
  if (name == "alpha") return Divergence(DivergenceKind::alpha, alpha);
  if (name == "softened-rkl") return Divergence(DivergenceKind::softened_rkl);
  if (name == "jeffreys-official") return Divergence(DivergenceKind::official_jeffreys);
  ONESTEP_FAIL("unknown divergence '{}': expected one of {}", name,
               fmt::join(divergence_names(), ", "));
}

}  // namespace onestep::distill
