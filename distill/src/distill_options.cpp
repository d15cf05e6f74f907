// DistillOptions: validation, JSON, presets.

#include <cmath>
#include <nlohmann/json.hpp>

#include "onestep/distill/distill.h"
#include "onestep/engine/error.h"

namespace onestep::distill {

using nlohmann::json;

void DistillOptions::validate() const {
  ONESTEP_CHECK(!teacher.empty(), "distill: --teacher is required");
  make_method(method, method_options);  // checks the method and its options
  ONESTEP_CHECK(sigma_init > 0 && std::isfinite(sigma_init),
                "distill: --sigma-init must be positive");
  ONESTEP_CHECK(batch >= 1 && total_images >= 1, "distill: --batch and --images must be >= 1");
  ONESTEP_CHECK(lr_generator > 0 && lr_fake > 0, "distill: learning rates must be positive");
  ONESTEP_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && adam_eps > 0,
                "distill: Adam needs 0 <= beta < 1 and eps > 0");
  ONESTEP_CHECK(ema_halflife_images >= 0 && ema_rampup >= 0 && fake_grad_clip >= 0,
                "distill: EMA and clipping settings must be >= 0");
  ONESTEP_CHECK(generator_warmup_images >= 0 && sim_only_images >= 0,
                "distill: warm-ups must be >= 0");
  ONESTEP_CHECK(sigma_min > 0 && sigma_max > sigma_min && rho > 0 && u_max > 0 && u_max <= 1,
                "distill: need 0 < sigma_min < sigma_max, rho > 0 and 0 < u_max <= 1");
  ONESTEP_CHECK(fake_sigma == "grid" || fake_sigma == "lognormal",
                "distill: --fake-sigma must be grid or lognormal, got '{}'", fake_sigma);
  ONESTEP_CHECK(score_scale > 0 && discriminator_weight >= 0, "distill: bad loss weights");
  ONESTEP_CHECK(regression_pairs >= 1 && regression_steps >= 1, "distill: bad regression settings");
  ONESTEP_CHECK(log_every_images >= 1 && checkpoint_every_images >= 0 &&
                    max_consecutive_skips >= 1 && preview_samples >= 0,
                "distill: bad logging settings");
  ONESTEP_CHECK(!out.empty(), "distill: --out is empty");
}

std::string DistillOptions::to_json() const {
  const MethodOptions& m = method_options;
  json j = {{"preset", preset},
            {"teacher", teacher},
            {"data", data},
            {"method", method},
            {"divergence", m.divergence},
            {"alpha", m.alpha},
            {"sid_alpha", m.sid_alpha},
            {"sim_c", m.sim_c},
            {"ratio_gradient", m.ratio_gradient},
            {"gan_weight", m.gan_weight},
            {"fake_steps", m.fake_steps},
            {"regression_weight", m.regression_weight},
            {"normalise_ratio", m.normalise_ratio},
            {"sigma_init", sigma_init},
            {"batch", batch},
            {"total_images", total_images},
            {"lr_generator", lr_generator},
            {"lr_fake", lr_fake},
            {"beta1", beta1},
            {"beta2", beta2},
            {"adam_eps", adam_eps},
            {"ema_halflife_images", ema_halflife_images},
            {"ema_rampup", ema_rampup},
            {"fake_grad_clip", fake_grad_clip},
            {"generator_warmup_images", generator_warmup_images},
            {"sim_only_images", sim_only_images},
            {"sigma_min", sigma_min},
            {"sigma_max", sigma_max},
            {"rho", rho},
            {"u_max", u_max},
            {"fake_sigma", fake_sigma},
            {"fake_p_mean", fake_loss.p_mean},
            {"fake_p_std", fake_loss.p_std},
            {"score_scale", score_scale},
            {"discriminator_weight", discriminator_weight},
            {"regression_pairs", regression_pairs},
            {"regression_steps", regression_steps},
            {"log_every_images", log_every_images},
            {"checkpoint_every_images", checkpoint_every_images},
            {"max_consecutive_skips", max_consecutive_skips},
            {"preview_samples", preview_samples},
            {"seed", seed},
            {"out", out}};
  return j.dump(2);
}

DistillOptions DistillOptions::from_json(const std::string& text) {
  DistillOptions o;
  try {
    const json j = json::parse(text);
    MethodOptions& m = o.method_options;
    j.at("preset").get_to(o.preset);
    j.at("teacher").get_to(o.teacher);
    j.at("data").get_to(o.data);
    j.at("method").get_to(o.method);
    j.at("divergence").get_to(m.divergence);
    j.at("alpha").get_to(m.alpha);
    j.at("sid_alpha").get_to(m.sid_alpha);
    j.at("sim_c").get_to(m.sim_c);
    j.at("ratio_gradient").get_to(m.ratio_gradient);
    j.at("gan_weight").get_to(m.gan_weight);
    j.at("fake_steps").get_to(m.fake_steps);
    j.at("regression_weight").get_to(m.regression_weight);
    j.at("normalise_ratio").get_to(m.normalise_ratio);
    j.at("sigma_init").get_to(o.sigma_init);
    j.at("batch").get_to(o.batch);
    j.at("total_images").get_to(o.total_images);
    j.at("lr_generator").get_to(o.lr_generator);
    j.at("lr_fake").get_to(o.lr_fake);
    j.at("beta1").get_to(o.beta1);
    j.at("beta2").get_to(o.beta2);
    j.at("adam_eps").get_to(o.adam_eps);
    j.at("ema_halflife_images").get_to(o.ema_halflife_images);
    j.at("ema_rampup").get_to(o.ema_rampup);
    j.at("fake_grad_clip").get_to(o.fake_grad_clip);
    j.at("generator_warmup_images").get_to(o.generator_warmup_images);
    j.at("sim_only_images").get_to(o.sim_only_images);
    j.at("sigma_min").get_to(o.sigma_min);
    j.at("sigma_max").get_to(o.sigma_max);
    j.at("rho").get_to(o.rho);
    j.at("u_max").get_to(o.u_max);
    j.at("fake_sigma").get_to(o.fake_sigma);
    j.at("fake_p_mean").get_to(o.fake_loss.p_mean);
    j.at("fake_p_std").get_to(o.fake_loss.p_std);
    j.at("score_scale").get_to(o.score_scale);
    j.at("discriminator_weight").get_to(o.discriminator_weight);
    j.at("regression_pairs").get_to(o.regression_pairs);
    j.at("regression_steps").get_to(o.regression_steps);
    j.at("log_every_images").get_to(o.log_every_images);
    j.at("checkpoint_every_images").get_to(o.checkpoint_every_images);
    j.at("max_consecutive_skips").get_to(o.max_consecutive_skips);
    j.at("preview_samples").get_to(o.preview_samples);
    j.at("seed").get_to(o.seed);
    j.at("out").get_to(o.out);
  } catch (const json::exception& e) {
    ONESTEP_FAIL("distill config: {}", e.what());
  }
  o.validate();
  return o;
}

const std::vector<std::string>& distill_preset_names() {
  static const std::vector<std::string> names = {"toy", "fmnist-cpu", "fmnist", "cifar10"};
  return names;
}

DistillOptions distill_preset(const std::string& name) {
  DistillOptions o;
  o.preset = name;
  if (name == "toy") {
    o.teacher = "runs/teacher-toy/teacher.safetensors";
    o.batch = 512;
    o.total_images = 2000000;
    o.lr_generator = 1e-4;
    o.lr_fake = 1e-4;
    o.ema_halflife_images = 50000;
    o.generator_warmup_images = 50000;
    o.sim_only_images = 100000;
    o.log_every_images = 51200;
    o.preview_samples = 2000;
    o.regression_pairs = 4096;
    o.out = "runs/distill-toy";
  } else if (name == "fmnist-cpu") {
    o.teacher = "runs/teacher-fmnist-cpu/teacher.safetensors";
    // A few hundred iterations fit in ~15 minutes on 2 cores: a high learning rate makes them
    // count (SiD at 1e-4 is sharp after 130 generator updates).
    o.batch = 32;
    o.total_images = 12800;
    o.lr_generator = 1e-4;
    o.lr_fake = 1e-4;
    o.ema_halflife_images = 2000;
    o.generator_warmup_images = 640;
    o.sim_only_images = 1280;
    o.log_every_images = 640;
    o.checkpoint_every_images = 6400;
    o.regression_pairs = 128;
    o.out = "runs/distill-fmnist-cpu";
  } else if (name == "fmnist") {
    o.teacher = "runs/teacher-fmnist/teacher.safetensors";
    o.batch = 128;
    o.total_images = 5000000;
    o.lr_generator = 1e-5;
    o.lr_fake = 1e-5;
    o.ema_halflife_images = 200000;
    o.generator_warmup_images = 50000;
    o.sim_only_images = 100000;
    o.log_every_images = 25600;
    o.checkpoint_every_images = 500000;
    o.out = "runs/distill-fmnist";
  } else if (name == "cifar10") {
    // The official CIFAR-10 settings (METHOD.md §4.3).
    o.teacher = "runs/teacher-cifar10/teacher.safetensors";
    o.batch = 256;
    o.total_images = 100000000;
    o.lr_generator = 1e-5;
    o.lr_fake = 1e-5;
    o.ema_halflife_images = 500000;
    o.generator_warmup_images = 100000;
    o.sim_only_images = 200000;
    o.log_every_images = 256000;
    o.checkpoint_every_images = 5000000;
    o.out = "runs/distill-cifar10";
  } else {
    ONESTEP_FAIL("unknown preset '{}': expected one of {}", name,
                 fmt::join(distill_preset_names(), ", "));
  }
  return o;
}

}  // namespace onestep::distill
