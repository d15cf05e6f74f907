#include "onestep/distill/methods.h"

#include <cmath>

#include "onestep/engine/error.h"

namespace onestep::distill {

const EnumNames<MethodKind>& method_kind_names() {
  static const EnumNames<MethodKind> names = {
      {MethodKind::uni_instruct, "uni-instruct"},
      {MethodKind::uni_instruct_official, "uni-instruct-official"},
      {MethodKind::sid, "sid"},
      {MethodKind::sida, "sida"},
      {MethodKind::sim, "sim"},
      {MethodKind::diff_instruct, "diff-instruct"},
      {MethodKind::dmd, "dmd"},
      {MethodKind::dmd2, "dmd2"},
      {MethodKind::f_distill, "f-distill"}};
  return names;
}

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = names_in(method_kind_names());
  return names;
}

std::string method_name(MethodKind kind) {
  if (const std::string* name = name_of(method_kind_names(), kind)) return *name;
  ONESTEP_FAIL("unknown method {}", static_cast<int>(kind));
}

MethodKind parse_method(const std::string& name) {
  if (const auto kind = value_named(method_kind_names(), name)) return *kind;
  ONESTEP_FAIL("unknown method '{}': expected one of {}", name, fmt::join(method_names(), ", "));
}

const EnumNames<RatioGradient>& ratio_gradient_names() {
  static const EnumNames<RatioGradient> names = {
      {RatioGradient::through_discriminator, "discriminator"},
      {RatioGradient::closed_form, "closed-form"}};
  return names;
}

std::string Method::describe() const {
  std::string text = name;
  if (uses_ratio) text += fmt::format(", divergence {}", divergence.name());
  if (kind == MethodKind::uni_instruct)
    text += ratio_gradient == RatioGradient::closed_form
                ? ", closed-form ratio gradient"
                : ", ratio gradient through the discriminator";
  if (kind == MethodKind::sid || kind == MethodKind::sida)
    text += fmt::format(", alpha {}", sid_alpha);
  if (kind == MethodKind::sim) text += fmt::format(", pseudo-Huber c {}", sim_c);
  if (gan_weight > 0)
    text += fmt::format(", GAN weight {}{}", gan_weight, gan_over_nu ? " (times mean 1/nu)" : "");
  if (fake_steps > 1) text += fmt::format(", {} fake updates per generator update", fake_steps);
  if (regression_weight > 0) text += fmt::format(", regression weight {}", regression_weight);
  return text;
}

Method make_method(const std::string& name, const MethodOptions& options) {
  return make_method(parse_method(name), options);
}

Method make_method(MethodKind kind, const MethodOptions& o) {
  ONESTEP_CHECK(o.sid_alpha > 0 && std::isfinite(o.sid_alpha), "sid_alpha must be positive");
  ONESTEP_CHECK(o.sim_c > 0 && std::isfinite(o.sim_c), "sim_c must be positive");
  ONESTEP_CHECK(o.fake_steps >= 0 && std::isfinite(o.regression_weight),
                "bad fake steps or regression weight");
  ONESTEP_CHECK(o.ratio_gradient != RatioGradient::none,
                "ratio_gradient must be discriminator or closed-form (the official code's "
                "stop-gradient is the method uni-instruct-official)");
  Method m;
  m.kind = kind;
  m.name = method_name(kind);
  m.sid_alpha = o.sid_alpha;
  m.sim_c = o.sim_c;
  m.normalise_ratio = o.normalise_ratio;
  m.gan_over_nu = o.gan_over_nu;
  double default_gan = 0;
  int64_t default_fake_steps = 1;
  double default_regression = 0;
  switch (kind) {
    case MethodKind::uni_instruct:
      m.divergence = parse_divergence(o.divergence.empty() ? "jeffreys" : o.divergence, o.alpha);
      m.ratio_gradient = o.ratio_gradient;
      m.uses_ratio = true;
      default_gan = 0.01;
      break;
    case MethodKind::uni_instruct_official:
      // The official weighting: h stop-gradient, no path term; its "Jeffreys" is 0.4 FKL + 0.6 RKL.
      m.divergence = o.divergence.empty() || o.divergence == "jeffreys"
                         ? Divergence(DivergenceKind::official_jeffreys)
                         : parse_divergence(o.divergence, o.alpha);
      m.ratio_gradient = RatioGradient::none;
      m.path_term = false;
      m.uses_ratio = true;
      default_gan = 0.01;
      break;
    case MethodKind::sid:
    case MethodKind::sim:
      break;
    case MethodKind::sida:
      default_gan = 0.01;
      break;
    case MethodKind::diff_instruct:
      m.lognormal_sigma = true;
      break;
    case MethodKind::dmd:
      default_regression = 0.25;
      break;
    case MethodKind::dmd2:
      default_gan = 0.01;
      default_fake_steps = 5;
      break;
    case MethodKind::f_distill:
      // f-distill (Xu et al. 2025) reports Jensen-Shannon best and trains with a GAN term.
      m.divergence = parse_divergence(o.divergence.empty() ? "js" : o.divergence, o.alpha);
      m.uses_ratio = true;
      default_gan = 0.01;
      break;
  }
  m.gan_weight = o.gan_weight >= 0 ? o.gan_weight : default_gan;
  m.fake_steps = o.fake_steps > 0 ? o.fake_steps : default_fake_steps;
  m.regression_weight = o.regression_weight >= 0 ? o.regression_weight : default_regression;
  return m;
}

}  // namespace onestep::distill
