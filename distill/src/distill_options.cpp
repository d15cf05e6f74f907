// DistillOptions: validation, JSON, presets.

#include <cmath>
#include <nlohmann/json.hpp>

#include "onestep/distill/distill.h"
#include "onestep/engine/error.h"
#include "onestep/engine/precision.h"

namespace onestep::distill {

using nlohmann::json;

void DistillOptions::validate() const {
  ONESTEP_CHECK(!teacher.empty(), "distill: --teacher is required");
  make_method(method, method_options);  // checks the method and its options
  ONESTEP_CHECK(sigma_init > 0 && std::isfinite(sigma_init),
                "distill: --sigma-init must be positive");
  // The upper limits match the command's flags, so that an edited config.json cannot ask for
  // what the command line refuses.
  ONESTEP_CHECK(batch >= 1 && batch <= (int64_t{1} << 20) && total_images >= 1,
                "distill: --batch must be in [1, {}] and --images >= 1", int64_t{1} << 20);
  ONESTEP_CHECK(lr_generator > 0 && lr_fake > 0, "distill: learning rates must be positive");
  ONESTEP_CHECK(lr_discriminator_head >= 0 && std::isfinite(lr_discriminator_head),
                "distill: --lr-disc-head must be >= 0 (0: the fake network's), got {}",
                lr_discriminator_head);
  ONESTEP_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && adam_eps > 0,
                "distill: Adam needs 0 <= beta < 1 and eps > 0");
  ONESTEP_CHECK(ema_halflife_images >= 0 && ema_rampup >= 0 && fake_grad_clip >= 0,
                "distill: EMA and clipping settings must be >= 0");
  ONESTEP_CHECK(generator_warmup_images >= 0 && sim_only_images >= 0,
                "distill: warm-ups must be >= 0");
  ONESTEP_CHECK(sigma_min > 0 && sigma_max > sigma_min && rho > 0 && u_max > 0 && u_max <= 1,
                "distill: need 0 < sigma_min < sigma_max, rho > 0 and 0 < u_max <= 1");
  ONESTEP_CHECK(
      discriminator_sigma_weighting == "uniform" || discriminator_sigma_weighting == "lambda",
      "distill: --disc-weighting must be uniform or lambda, got '{}'",
      discriminator_sigma_weighting);
  ONESTEP_CHECK(fake_loss.p_std >= 0 && std::isfinite(fake_loss.p_mean),
                "distill: bad fake noise-level distribution");
  ONESTEP_CHECK(fake_sigma == "grid" || fake_sigma == "lognormal",
                "distill: --fake-sigma must be grid or lognormal, got '{}'", fake_sigma);
  ONESTEP_CHECK(discriminator_sigma == "grid" || discriminator_sigma == "lognormal",
                "distill: --disc-sigma must be grid or lognormal, got '{}'", discriminator_sigma);
  ONESTEP_CHECK(discriminator_head == "mean" || discriminator_head == "learned",
                "distill: --disc-head must be mean or learned, got '{}'", discriminator_head);
  ONESTEP_CHECK(score_scale > 0 && discriminator_weight >= 0, "distill: bad loss weights");
  ONESTEP_CHECK(regression_pairs >= 1 && regression_steps >= 1, "distill: bad regression settings");
  ONESTEP_CHECK(log_every_images >= 1 && checkpoint_every_images >= 0 && preview_samples >= 0 &&
                    preview_samples <= 1000000,
                "distill: bad logging settings");
  ONESTEP_CHECK(eval_every_images >= 0 && eval_samples >= 2 && eval_samples <= 1000000,
                "distill: --eval-every must be >= 0 and --eval-samples in [2, 1000000]");
  ONESTEP_CHECK(max_consecutive_skips >= 1, "distill: --max-consecutive-skips must be >= 1, got {}",
                max_consecutive_skips);
  ONESTEP_CHECK(regression_pairs <= 1000000 && regression_steps <= 100000,
                "distill: bad regression settings");
  inject_nan.validate("distill");
  ONESTEP_CHECK(!out.empty(), "distill: --out is empty");
  parse_device(device);
  parse_matmul_precision(precision);
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
            {"regression", m.regression_weight},
            {"normalise_ratio", m.normalise_ratio},
            {"gan_over_nu", m.gan_over_nu},
            {"sigma_init", sigma_init},
            {"batch", batch},
            {"total_images", total_images},
            {"lr_generator", lr_generator},
            {"lr_fake", lr_fake},
            {"lr_discriminator_head", lr_discriminator_head},
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
            {"discriminator_sigma", discriminator_sigma},
            {"discriminator_head", discriminator_head},
            {"fake_p_mean", fake_loss.p_mean},
            {"fake_p_std", fake_loss.p_std},
            {"score_scale", score_scale},
            {"discriminator_weight", discriminator_weight},
            {"discriminator_sigma_weighting", discriminator_sigma_weighting},
            {"regression_pairs", regression_pairs},
            {"regression_steps", regression_steps},
            {"log_every_images", log_every_images},
            {"checkpoint_every_images", checkpoint_every_images},
            {"eval_every_images", eval_every_images},
            {"eval_samples", eval_samples},
            {"eval_features", eval_features},
            {"max_consecutive_skips", max_consecutive_skips},
            {"preview_samples", preview_samples},
            {"seed", seed},
            {"device", device},
            {"precision", precision},
            {"out", out}};
  return j.dump(2);
}

DistillOptions DistillOptions::from_json(const std::string& text) {
  DistillOptions o;
  try {
    const json j = json::parse(text);
    ONESTEP_CHECK(j.is_object(), "distill config: expected a JSON object");
    // Missing keys keep their defaults, so configs written before an option existed still load.
    const auto read = [&](const char* key, auto& value) {
      if (j.contains(key)) j.at(key).get_to(value);
    };
    MethodOptions& m = o.method_options;
    read("preset", o.preset);
    read("teacher", o.teacher);
    read("data", o.data);
    read("method", o.method);
    read("divergence", m.divergence);
    read("alpha", m.alpha);
    read("sid_alpha", m.sid_alpha);
    read("sim_c", m.sim_c);
    read("ratio_gradient", m.ratio_gradient);
    read("gan_weight", m.gan_weight);
    read("fake_steps", m.fake_steps);
    // "regression_weight", in configs written before the regression term applied to every
    // method, held DMD's weight whatever the method: it counts for dmd only.
    if (j.contains("regression")) {
      read("regression", m.regression_weight);
    } else if (o.method == "dmd") {
      read("regression_weight", m.regression_weight);
    }
    read("normalise_ratio", m.normalise_ratio);
    read("gan_over_nu", m.gan_over_nu);
    read("sigma_init", o.sigma_init);
    read("batch", o.batch);
    read("total_images", o.total_images);
    read("lr_generator", o.lr_generator);
    read("lr_fake", o.lr_fake);
    read("lr_discriminator_head", o.lr_discriminator_head);
    read("beta1", o.beta1);
    read("beta2", o.beta2);
    read("adam_eps", o.adam_eps);
    read("ema_halflife_images", o.ema_halflife_images);
    read("ema_rampup", o.ema_rampup);
    read("fake_grad_clip", o.fake_grad_clip);
    read("generator_warmup_images", o.generator_warmup_images);
    read("sim_only_images", o.sim_only_images);
    read("sigma_min", o.sigma_min);
    read("sigma_max", o.sigma_max);
    read("rho", o.rho);
    read("u_max", o.u_max);
    read("fake_sigma", o.fake_sigma);
    read("fake_p_mean", o.fake_loss.p_mean);
    read("discriminator_sigma_weighting", o.discriminator_sigma_weighting);
    read("fake_p_std", o.fake_loss.p_std);
    read("discriminator_sigma", o.discriminator_sigma);
    read("discriminator_head", o.discriminator_head);
    read("score_scale", o.score_scale);
    read("discriminator_weight", o.discriminator_weight);
    read("regression_pairs", o.regression_pairs);
    read("regression_steps", o.regression_steps);
    read("log_every_images", o.log_every_images);
    read("checkpoint_every_images", o.checkpoint_every_images);
    read("eval_every_images", o.eval_every_images);
    read("eval_samples", o.eval_samples);
    read("eval_features", o.eval_features);
    read("max_consecutive_skips", o.max_consecutive_skips);
    read("preview_samples", o.preview_samples);
    read("seed", o.seed);
    read("device", o.device);
    read("precision", o.precision);
    read("out", o.out);
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

// On the CPU presets, uni-instruct gets the settings with which its one-step generator measured
// best (docs/DISTILL.md, "The toy demo's recipe" and "The Fashion-MNIST recipe"). The other
// methods keep the preset's general settings and their own published defaults: nobody has
// measured the recipe on them. The GPU presets keep the official settings for every method.
DistillOptions distill_preset(const std::string& name, const std::string& method) {
  DistillOptions o;
  o.preset = name;
  o.method = method;
  if (name == "toy") {
    o.teacher = "runs/teacher-toy/teacher.safetensors";
    o.batch = 512;
    o.total_images = 2000000;
    // 1e-4 left the generator near its initial square of samples after 1M images (15-17 of 25
    // modes); 1e-3 gives reverse KL 25/25 and makes JS and Hellinger train without diverging.
    o.lr_generator = 1e-3;
    o.lr_fake = 1e-3;
    o.ema_halflife_images = 50000;
    o.generator_warmup_images = 50000;
    o.sim_only_images = 100000;
    o.log_every_images = 51200;
    o.preview_samples = 2000;
    o.regression_pairs = 4096;
    o.out = "runs/distill-toy";
    if (method == "uni-instruct") {
      // 25/25 modes, ~90 % of the samples on a mode and the teacher's SWD after 3M images: the
      // regression to teacher ODE pairs keeps every mode, the GAN term sharpens them.
      o.method_options.divergence = "js";
      o.method_options.gan_weight = 3;
      o.method_options.regression_weight = 1;
      o.lr_generator = o.lr_fake = 2e-3;
      o.total_images = 3000000;
    }
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
    if (method == "uni-instruct") {
      // One step at or below the teacher's Heun-18 FID after 44,800 images (~1.6 h on 2 cores);
      // the real data reaches the generator through a discriminator head that learns fast.
      o.method_options.divergence = "js";
      o.method_options.gan_weight = 30;
      o.method_options.regression_weight = 0.25;
      o.lr_generator = o.lr_fake = 2e-4;
      o.discriminator_head = "learned";
      o.lr_discriminator_head = 2e-3;
      o.total_images = 44800;
    }
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
    // The official CIFAR-10 settings of the Uni-Instruct and SiD code (docs/DISTILL.md).
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
