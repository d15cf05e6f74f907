#pragma once
// The methods Uni-Instruct contains (docs/DISTILL.md), each a configuration of one machinery:
// which generator loss, which divergence, whether a discriminator (density ratio and/or GAN)
// is trained, and how noise levels are drawn.

#include <string>
#include <vector>

#include "onestep/distill/divergence.h"
#include "onestep/distill/uni_instruct.h"
#include "onestep/engine/enum_names.h"

namespace onestep::distill {

enum class MethodKind {
  uni_instruct,           // the exact estimator (default)
  uni_instruct_official,  // h stop-gradient, no path term, official "Jeffreys"; correct ratio
  sid,                    // [(1 - a)|Delta|^2 + <Delta, D_q - x_g>] / nu
  sida,                   // SiD + GAN
  sim,                    // SIM with the pseudo-Huber distance
  diff_instruct,          // sg(D_q - D_p) . x_g, log-normal sigma
  dmd,                    // (D_q - D_p) / nu on x_g + MSE regression to teacher ODE pairs
  dmd2,                   // DMD without regression + GAN, several fake updates per generator update
  f_distill,              // h(r) / mean h(r) times the DMD direction
};

struct MethodOptions {
  // Empty: the method's default (jeffreys for uni-instruct, the official 0.4 FKL + 0.6 RKL for
  // uni-instruct-official, js for f-distill, whose paper finds Jensen-Shannon best).
  std::string divergence;
  double alpha = 1.5;                            // alpha-divergence
  double sid_alpha = 1.2;                        // SiD's alpha
  double sim_c = 1.0;                            // SIM pseudo-Huber constant
  // uni-instruct's: through_discriminator ("discriminator") or closed_form ("closed-form").
  RatioGradient ratio_gradient = RatioGradient::through_discriminator;
  double gan_weight = -1;                        // < 0: the method's default
  int64_t fake_steps = 0;           // fake updates per generator update; 0: the method's default
  // Weight of the MSE to teacher ODE pairs from fixed noise (DMD's regression term), with any
  // method; < 0: the method's default (0.25 for dmd, 0 for the others).
  double regression_weight = -1;
  bool normalise_ratio = false;     // divide r by its batch mean
  bool gan_over_nu = false;         // GAN term x batch mean of 1/nu, as the official code does
};

struct Method {
  MethodKind kind = MethodKind::uni_instruct;
  std::string name;
  Divergence divergence{DivergenceKind::jeffreys};
  RatioGradient ratio_gradient = RatioGradient::through_discriminator;
  bool path_term = true;
  double sid_alpha = 1.2;
  double sim_c = 1.0;
  double gan_weight = 0;   // weight of the non-saturating GAN term in the generator loss
  int64_t fake_steps = 1;  // fake/discriminator updates per generator update
  double regression_weight = 0;
  bool normalise_ratio = false;
  bool gan_over_nu = false;      // the GAN term times the batch mean of 1/nu (official SiDA/UI)
  bool uses_ratio = false;       // the generator loss reads the density ratio
  bool lognormal_sigma = false;  // generator sigma ~ EDM log-normal instead of the Karras grid

  bool needs_discriminator() const { return uses_ratio || gan_weight > 0; }
  std::string describe() const;
};

// Each method with its name in config.json and on the command line: "uni-instruct",
// "uni-instruct-official", "sid", "sida", "sim", "diff-instruct", "dmd", "dmd2", "f-distill".
const EnumNames<MethodKind>& method_kind_names();
const std::vector<std::string>& method_names();  // the names alone, in that order
std::string method_name(MethodKind kind);
// A name of method_names(); throws onestep::Error listing them on any other.
MethodKind parse_method(const std::string& name);
// The ratio gradients a user may choose, with their names in config.json and on the command line.
const EnumNames<RatioGradient>& ratio_gradient_names();
// The method with its published defaults, changed by `options`; throws onestep::Error on an
// option it cannot take.
Method make_method(MethodKind kind, const MethodOptions& options = {});
// make_method(parse_method(name), options).
Method make_method(const std::string& name, const MethodOptions& options = {});

}  // namespace onestep::distill
