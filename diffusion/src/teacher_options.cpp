// TeacherOptions: validation, JSON, presets.

#include <nlohmann/json.hpp>

#include "onestep/diffusion/teacher.h"
#include "onestep/engine/error.h"
#include "onestep/engine/precision.h"

namespace onestep::diffusion {

using nlohmann::json;

void TeacherOptions::validate() const {
  // The upper limits match the command's flags, so that an edited config.json cannot ask for
  // what the command line refuses.
  ONESTEP_CHECK(batch >= 1 && batch <= (int64_t{1} << 20),
                "teacher: --batch must be in [1, {}], got {}", int64_t{1} << 20, batch);
  ONESTEP_CHECK(total_images >= 1, "teacher: --images must be >= 1, got {}", total_images);
  ONESTEP_CHECK(lr > 0 && std::isfinite(lr), "teacher: --lr must be positive, got {}", lr);
  ONESTEP_CHECK(lr_warmup_images >= 0, "teacher: --lr-warmup must be >= 0");
  ONESTEP_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && adam_eps > 0,
                "teacher: Adam needs 0 <= beta < 1 and eps > 0");
  ONESTEP_CHECK(ema_halflife_images >= 0 && ema_rampup >= 0, "teacher: EMA settings must be >= 0");
  ONESTEP_CHECK(grad_clip >= 0, "teacher: --grad-clip must be >= 0 (0 turns it off)");
  ONESTEP_CHECK(std::isfinite(loss.p_mean) && loss.p_std >= 0,
                "teacher: bad noise-level distribution");
  ONESTEP_CHECK(log_every_images >= 1 && checkpoint_every_images >= 0,
                "teacher: --log-every must be >= 1, --checkpoint-every >= 0");
  ONESTEP_CHECK(max_consecutive_skips >= 1, "teacher: --max-consecutive-skips must be >= 1, got {}",
                max_consecutive_skips);
  inject_nan.validate("teacher");
  ONESTEP_CHECK(preview_samples >= 0 && preview_samples <= 1000000 && preview_steps >= 1 &&
                    preview_steps <= 100000,
                "teacher: bad preview settings ({} samples, {} steps)", preview_samples,
                preview_steps);
  ONESTEP_CHECK(!out.empty(), "teacher: --out is empty");
  parse_device(device);
  parse_matmul_precision(precision);
}

std::string TeacherOptions::to_json() const {
  json j = {{"preset", preset},
            {"data", data},
            {"hflip", hflip},
            {"cond", cond},
            {"model", json::parse(model.to_json())},
            {"batch", batch},
            {"total_images", total_images},
            {"lr", lr},
            {"lr_warmup_images", lr_warmup_images},
            {"beta1", beta1},
            {"beta2", beta2},
            {"adam_eps", adam_eps},
            {"ema_halflife_images", ema_halflife_images},
            {"ema_rampup", ema_rampup},
            {"grad_clip", grad_clip},
            {"p_mean", loss.p_mean},
            {"p_std", loss.p_std},
            {"log_every_images", log_every_images},
            {"checkpoint_every_images", checkpoint_every_images},
            {"max_consecutive_skips", max_consecutive_skips},
            {"preview_samples", preview_samples},
            {"preview_steps", preview_steps},
            {"seed", seed},
            {"device", device},
            {"precision", precision},
            {"out", out}};
  return j.dump(2);
}

TeacherOptions TeacherOptions::from_json(const std::string& text) {
  TeacherOptions o;
  try {
    const json j = json::parse(text);
    ONESTEP_CHECK(j.is_object(), "teacher config: expected a JSON object");
    // Missing keys keep their defaults, so configs written before an option existed still load.
    const auto read = [&](const char* key, auto& value) {
      if (j.contains(key)) j.at(key).get_to(value);
    };
    read("preset", o.preset);
    read("data", o.data);
    read("hflip", o.hflip);
    read("cond", o.cond);
    if (j.contains("model")) o.model = ModelConfig::from_json(j.at("model").dump());
    read("batch", o.batch);
    read("total_images", o.total_images);
    read("lr", o.lr);
    read("lr_warmup_images", o.lr_warmup_images);
    read("beta1", o.beta1);
    read("beta2", o.beta2);
    read("adam_eps", o.adam_eps);
    read("ema_halflife_images", o.ema_halflife_images);
    read("ema_rampup", o.ema_rampup);
    read("grad_clip", o.grad_clip);
    read("p_mean", o.loss.p_mean);
    read("p_std", o.loss.p_std);
    read("log_every_images", o.log_every_images);
    read("checkpoint_every_images", o.checkpoint_every_images);
    read("max_consecutive_skips", o.max_consecutive_skips);
    read("preview_samples", o.preview_samples);
    read("preview_steps", o.preview_steps);
    read("seed", o.seed);
    read("device", o.device);
    read("precision", o.precision);
    read("out", o.out);
  } catch (const json::exception& e) {
    ONESTEP_FAIL("teacher config: {}", e.what());
  }
  o.validate();
  return o;
}

const std::vector<std::string>& teacher_preset_names() {
  static const std::vector<std::string> names = {"toy", "fmnist-cpu", "fmnist", "cifar10"};
  return names;
}

TeacherOptions teacher_preset(const std::string& name) {
  TeacherOptions o;
  o.preset = name;
  if (name == "toy") {
    o.data = "toy:25gaussians";
    o.model.arch = "mlp";
    o.model.mlp.hidden = 64;  // 128 is no better on the toys and 3x slower
    o.model.mlp.num_blocks = 3;
    o.model.mlp.noise_channels = 32;
    o.batch = 512;
    o.total_images = 2000000;
    o.lr = 2e-3;
    o.lr_warmup_images = 100000;
    o.ema_halflife_images = 100000;
    o.log_every_images = 100000;
    o.preview_samples = 2000;
    o.out = "runs/teacher-toy";
  } else if (name == "fmnist-cpu") {
    o.data = "fashion-mnist";
    o.model.unet.model_channels = 32;
    // Sized for ~30 minutes on 2 cores (~65 images/s): a narrow middle level keeps the 32x32
    // decoder cheap.
    o.model.unet.channel_mult = {1, 1, 2};
    o.model.unet.num_blocks = 1;
    o.model.unet.attn_resolutions = {8};
    o.model.unet.dropout = 0.0;
    o.batch = 64;
    o.total_images = 110000;
    o.lr = 1e-3;
    o.lr_warmup_images = 10000;
    o.ema_halflife_images = 10000;
    o.log_every_images = 2560;
    o.checkpoint_every_images = 25600;
    o.out = "runs/teacher-fmnist-cpu";
  } else if (name == "fmnist") {
    o.data = "fashion-mnist";
    o.model.unet.model_channels = 64;
    o.model.unet.channel_mult = {1, 2, 2};
    o.model.unet.num_blocks = 2;
    o.model.unet.attn_resolutions = {8};
    o.model.unet.dropout = 0.1;
    o.batch = 128;
    o.total_images = 20000000;
    o.lr = 1e-3;
    o.lr_warmup_images = 1000000;
    o.ema_halflife_images = 500000;
    o.log_every_images = 51200;
    o.checkpoint_every_images = 1000000;
    o.out = "runs/teacher-fmnist";
  } else if (name == "cifar10") {
    // EDM's CIFAR-10 DDPM++ (Karras et al. 2022, Table 7): batch 512, lr 1e-3 with a 10 Mimg
    // ramp-up, EMA half-life 0.5 Mimg, dropout 0.13, 200 Mimg.
    o.data = "cifar10:data/cifar-10-batches-bin";
    o.hflip = true;
    o.model.unet.model_channels = 128;
    o.model.unet.channel_mult = {2, 2, 2};
    o.model.unet.num_blocks = 4;
    o.model.unet.attn_resolutions = {16};
    o.model.unet.dropout = 0.13;
    o.batch = 512;
    o.total_images = 200000000;
    o.lr = 1e-3;
    o.lr_warmup_images = 10000000;
    o.ema_halflife_images = 500000;
    o.log_every_images = 512000;
    o.checkpoint_every_images = 5000000;
    o.out = "runs/teacher-cifar10";
  } else {
    ONESTEP_FAIL("unknown preset '{}': expected one of {}", name,
                 fmt::join(teacher_preset_names(), ", "));
  }
  return o;
}

}  // namespace onestep::diffusion
