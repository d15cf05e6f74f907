// TeacherOptions: validation, JSON, presets.

#include "onestep/diffusion/teacher.h"
#include "onestep/engine/error.h"
#include "onestep/engine/precision.h"

namespace onestep::diffusion {

const run::OptionTable<TeacherOptions>& teacher_option_table() {
  static const run::OptionTable<TeacherOptions> table = [] {
    run::OptionTable<TeacherOptions> t("teacher");
    using run::at_least;
    using run::between;
    t.add("data", "--data",
          "Dataset: toy:25gaussians|toy:8gaussians|toy:swissroll|toy:checkerboard|toy:moons, "
          "fashion-mnist[:DIR], cifar10:DIR, png:DIR",
          ONESTEP_OPTION_MEMBER(data));
    t.add("cond", "--cond", "Class-conditional (labelled data)", ONESTEP_OPTION_MEMBER(cond));
    t.add("hflip", "--hflip", "Random horizontal flips", ONESTEP_OPTION_MEMBER(hflip));
    t.add_custom(
        "model", "", "The network (model config)",
        [](const TeacherOptions& o) { return run::OptionValue(run::JsonText{o.model.to_json()}); },
        [](TeacherOptions& o, const run::OptionValue& v) {
          o.model = ModelConfig::from_json(std::get<run::JsonText>(v).text);
        });
    t.add("total_images", "--images", "Training length in images",
          ONESTEP_OPTION_MEMBER(total_images))
        .allow(at_least(1))
        .may_change();
    t.add("batch", "--batch", "Batch size", ONESTEP_OPTION_MEMBER(batch))
        .allow(between(1, 1 << 20));
    t.add("lr", "--lr", "Adam learning rate", ONESTEP_OPTION_MEMBER(lr)).allow(between(1e-12, 10));
    t.add("lr_warmup_images", "--lr-warmup", "Linear lr warm-up, images",
          ONESTEP_OPTION_MEMBER(lr_warmup_images))
        .allow(at_least(0));
    t.add("beta1", "", "Adam beta1", ONESTEP_OPTION_MEMBER(beta1));
    t.add("beta2", "", "Adam beta2", ONESTEP_OPTION_MEMBER(beta2));
    t.add("adam_eps", "", "Adam epsilon", ONESTEP_OPTION_MEMBER(adam_eps)).allow(run::positive());
    t.add("ema_halflife_images", "--ema-halflife", "EMA half-life, images",
          ONESTEP_OPTION_MEMBER(ema_halflife_images))
        .allow(at_least(0));
    t.add("ema_rampup", "--ema-rampup", "EMA ramp-up ratio (0: off)",
          ONESTEP_OPTION_MEMBER(ema_rampup))
        .allow(between(0, 1));
    t.add("grad_clip", "--grad-clip", "Clip the gradient norm (0: off)",
          ONESTEP_OPTION_MEMBER(grad_clip))
        .allow(at_least(0));
    t.add("p_mean", "--p-mean", "Mean of ln(sigma) in training", ONESTEP_OPTION_MEMBER(loss.p_mean));
    t.add("p_std", "--p-std", "Std of ln(sigma) in training", ONESTEP_OPTION_MEMBER(loss.p_std))
        .allow(at_least(0));
    t.add("", "--sigma-data", "EDM sigma_data", ONESTEP_OPTION_MEMBER(model.sigma_data))
        .allow(run::positive());
    t.add("preview_steps", "", "Heun steps of the preview", ONESTEP_OPTION_MEMBER(preview_steps))
        .allow(between(1, 100000));
    run::add_run_options(t, "step");
    // The network's shape: flags that edit the "model" entry.
    t.add_enum("", "--arch", "Network: songunet, dhariwalunet or mlp", ONESTEP_OPTION_MEMBER(model.arch),
               network_arch_names());
    t.add("", "--channels", "U-Net model_channels",
          ONESTEP_OPTION_MEMBER(model.unet.model_channels))
        .allow(between(4, 4096));
    t.add("", "--channel-mult", "U-Net channel_mult, e.g. 1,2,2",
          ONESTEP_OPTION_MEMBER(model.unet.channel_mult))
        .allow(between(1, 64));
    t.add_custom(
        "", "--blocks", "Residual blocks per resolution",
        [](const TeacherOptions& o) { return run::OptionValue(o.model.unet.num_blocks); },
        [](TeacherOptions& o, const run::OptionValue& v) {
          o.model.unet.num_blocks = o.model.mlp.num_blocks = std::get<int64_t>(v);
        })
        .allow(between(1, 64));
    t.add("", "--attn", "Resolutions with self-attention, e.g. 16",
          ONESTEP_OPTION_MEMBER(model.unet.attn_resolutions))
        .allow(between(1, 65536));
    t.add("", "--dropout", "U-Net dropout", ONESTEP_OPTION_MEMBER(model.unet.dropout))
        .allow(between(0, 0.99));
    t.add("", "--hidden", "MLP width", ONESTEP_OPTION_MEMBER(model.mlp.hidden))
        .allow(between(1, 65536));
    return t;
  }();
  return table;
}

void TeacherOptions::validate() const {
  teacher_option_table().check_ranges(*this);
  ONESTEP_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
                "teacher: Adam needs 0 <= beta1, beta2 < 1 (got {}, {})", beta1, beta2);
  inject_nan.validate("teacher");
  ONESTEP_CHECK(!out.empty(), "teacher: out is empty");
}

std::string TeacherOptions::to_json() const { return teacher_option_table().to_json(*this); }

TeacherOptions TeacherOptions::from_json(const std::string& text) {
  TeacherOptions o;
  teacher_option_table().read_json(text, o);
  o.validate();
  return o;
}

namespace {

// Each preset as the settings it changes from the defaults, named as in teacher_option_table().
const std::vector<run::Preset>& teacher_presets() {
  static const std::vector<run::Preset> presets = {
      // The MLP on 2-D data, seconds; hidden 128 is no better on the toys and 3x slower.
      {"toy",
       "data=toy:25gaussians arch=mlp hidden=64 batch=512 total_images=2000000 lr=2e-3 "
       "lr_warmup_images=100000 ema_halflife_images=100000 log_every_images=100000 "
       "preview_samples=2000 out=runs/teacher-toy",
       ""},
      // Sized for ~30 minutes on 2 cores (~65 images/s): a narrow middle level keeps the 32x32
      // decoder cheap.
      {"fmnist-cpu",
       "data=fashion-mnist channels=32 channel-mult=1,1,2 blocks=1 attn=8 dropout=0 batch=64 "
       "total_images=110000 lr=1e-3 lr_warmup_images=10000 ema_halflife_images=10000 "
       "log_every_images=2560 checkpoint_every_images=25600 out=runs/teacher-fmnist-cpu",
       ""},
      // The GPU-size model.
      {"fmnist",
       "data=fashion-mnist channels=64 channel-mult=1,2,2 blocks=2 attn=8 dropout=0.1 batch=128 "
       "total_images=20000000 lr=1e-3 lr_warmup_images=1000000 ema_halflife_images=500000 "
       "log_every_images=51200 checkpoint_every_images=1000000 out=runs/teacher-fmnist",
       ""},
      // EDM's CIFAR-10 DDPM++ (Karras et al. 2022, Table 7): batch 512, lr 1e-3 with a 10 Mimg
      // ramp-up, EMA half-life 0.5 Mimg, dropout 0.13, 200 Mimg.
      {"cifar10",
       "data=cifar10:data/cifar-10-batches-bin hflip=true channels=128 channel-mult=2,2,2 "
       "blocks=4 attn=16 dropout=0.13 batch=512 total_images=200000000 lr=1e-3 "
       "lr_warmup_images=10000000 ema_halflife_images=500000 log_every_images=512000 "
       "checkpoint_every_images=5000000 out=runs/teacher-cifar10",
       ""},
  };
  return presets;
}

}  // namespace

const std::vector<std::string>& teacher_preset_names() {
  static const std::vector<std::string> names = run::preset_names(teacher_presets());
  return names;
}

TeacherOptions teacher_preset(const std::string& name) {
  TeacherOptions o;
  o.preset = name;
  teacher_option_table().apply_settings(run::find_preset(teacher_presets(), name).settings, o);
  return o;
}

}  // namespace onestep::diffusion
