#include "onestep/distill/methods.h"

#include <cmath>

#include "onestep/engine/error.h"

namespace onestep::distill {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = {
      "uni-instruct", "uni-instruct-official", "sid", "sida", "sim", "diff-instruct", "dmd", "dmd2",
      "f-distill"};
  return names;
}

const std::vector<std::pair<RatioGradient, std::string>>& ratio_gradient_names() {
  static const std::vector<std::pair<RatioGradient, std::string>> names = {
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

Method make_method(const std::string& name, const MethodOptions& o) {
  ONESTEP_CHECK(o.sid_alpha > 0 && std::isfinite(o.sid_alpha), "sid_alpha must be positive");
  ONESTEP_CHECK(o.sim_c > 0 && std::isfinite(o.sim_c), "sim_c must be positive");
  ONESTEP_CHECK(o.fake_steps >= 0 && std::isfinite(o.regression_weight),
                "bad fake steps or regression weight");
  ONESTEP_CHECK(o.ratio_gradient != RatioGradient::none,
                "ratio_gradient must be discriminator or closed-form (the official code's "
                "stop-gradient is the method uni-instruct-official)");
  Method m;
  m.name = name;
  m.sid_alpha = o.sid_alpha;
  m.sim_c = o.sim_c;
  m.normalise_ratio = o.normalise_ratio;
  m.gan_over_nu = o.gan_over_nu;
  double default_gan = 0;
  int64_t default_fake_steps = 1;
  double default_regression = 0;
  if (name == "uni-instruct") {
    m.kind = MethodKind::uni_instruct;
    m.divergence = parse_divergence(o.divergence.empty() ? "jeffreys" : o.divergence, o.alpha);
    m.ratio_gradient = o.ratio_gradient;
    m.uses_ratio = true;
    default_gan = 0.01;
  } else if (name == "uni-instruct-official") {
    m.kind = MethodKind::uni_instruct_official;
    // The official weighting: h stop-gradient, no path term; its "Jeffreys" is 0.4 FKL + 0.6 RKL.
    m.divergence = o.divergence.empty() || o.divergence == "jeffreys"
                       ? Divergence(DivergenceKind::official_jeffreys)
                       : parse_divergence(o.divergence, o.alpha);
    m.ratio_gradient = RatioGradient::none;
    m.path_term = false;
    m.uses_ratio = true;
    default_gan = 0.01;
  } else if (name == "sid") {
    m.kind = MethodKind::sid;
  } else if (name == "sida") {
    m.kind = MethodKind::sida;
    default_gan = 0.01;
  } else if (name == "sim") {
    m.kind = MethodKind::sim;
  } else if (name == "diff-instruct") {
    m.kind = MethodKind::diff_instruct;
    m.lognormal_sigma = true;
  } else if (name == "dmd") {
    m.kind = MethodKind::dmd;
    default_regression = 0.25;
  } else if (name == "dmd2") {
    m.kind = MethodKind::dmd2;
    default_gan = 0.01;
    default_fake_steps = 5;
  } else if (name == "f-distill") {
    m.kind = MethodKind::f_distill;
    // f-distill (Xu et al. 2025) reports Jensen-Shannon best and trains with a GAN term.
    m.divergence = parse_divergence(o.divergence.empty() ? "js" : o.divergence, o.alpha);
    m.uses_ratio = true;
    default_gan = 0.01;
  } else {
    ONESTEP_FAIL("unknown method '{}': expected one of {}", name, fmt::join(method_names(), ", "));
  }
  m.gan_weight = o.gan_weight >= 0 ? o.gan_weight : default_gan;
  m.fake_steps = o.fake_steps > 0 ? o.fake_steps : default_fake_steps;
  m.regression_weight = o.regression_weight >= 0 ? o.regression_weight : default_regression;
  return m;
}

}  // namespace onestep::distill
