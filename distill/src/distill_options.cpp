// DistillOptions: validation, JSON, presets.

#include <algorithm>
#include <cmath>

#include "onestep/distill/distill.h"
#include "onestep/engine/error.h"
#include "onestep/engine/precision.h"

namespace onestep::distill {

const run::OptionTable<DistillOptions>& distill_option_table() {
  static const run::OptionTable<DistillOptions> table = [] {
    run::OptionTable<DistillOptions> t("distill");
    using run::at_least;
    using run::between;
    using run::one_of;
    using run::positive;
    t.add("teacher", "--teacher", "Teacher checkpoint (default from the preset)",
          ONESTEP_OPTION_MEMBER(teacher));
    t.add("data", "--data", "Real data for the discriminator (default: the teacher's)",
          ONESTEP_OPTION_MEMBER(data));
    t.add_enum("method", "--method", fmt::format("{}", fmt::join(method_names(), ", ")),
               ONESTEP_OPTION_MEMBER(method), method_kind_names());
    t.add("divergence", "--divergence",
          fmt::format("{} (default: jeffreys; js for f-distill)",
                      fmt::join(divergence_names(), ", ")),
          ONESTEP_OPTION_MEMBER(method_options.divergence));
    t.add("alpha", "--alpha", "alpha of the alpha-divergence",
          ONESTEP_OPTION_MEMBER(method_options.alpha));
    t.add("sid_alpha", "--sid-alpha", "SiD's alpha (1.2)",
          ONESTEP_OPTION_MEMBER(method_options.sid_alpha))
        .allow(positive());
    t.add("sim_c", "--sim-c", "SIM pseudo-Huber c", ONESTEP_OPTION_MEMBER(method_options.sim_c))
        .allow(positive());
    t.add_enum("ratio_gradient", "--ratio-gradient",
               "Uni-Instruct ratio gradient: discriminator or closed-form",
               ONESTEP_OPTION_MEMBER(method_options.ratio_gradient), ratio_gradient_names());
    t.add("gan_weight", "--gan-weight", "GAN weight (method default when omitted)",
          ONESTEP_OPTION_MEMBER(method_options.gan_weight))
        .allow(at_least(0).or_unset(-1));
    t.add("fake_steps", "--fake-steps", "Fake updates per generator update",
          ONESTEP_OPTION_MEMBER(method_options.fake_steps))
        .allow(between(1, 1000).or_unset(0));
    t.add("regression", "--regression-weight",
          "Weight of the MSE to teacher ODE pairs (DMD's regression; any method; default 0.25 "
          "for dmd, 0 otherwise)",
          ONESTEP_OPTION_MEMBER(method_options.regression_weight))
        .allow(at_least(0).or_unset(-1));
    t.add("normalise_ratio", "--normalise-ratio", "Divide r by its batch mean",
          ONESTEP_OPTION_MEMBER(method_options.normalise_ratio));
    t.add("gan_over_nu", "--gan-over-nu",
          "Multiply the GAN term by the batch mean of 1/nu, as the official code does",
          ONESTEP_OPTION_MEMBER(method_options.gan_over_nu));
    t.add("sigma_init", "--sigma-init", "Generator noise level (2.5)",
          ONESTEP_OPTION_MEMBER(sigma_init))
        .allow(positive());
    t.add("batch", "--batch", "Batch size", ONESTEP_OPTION_MEMBER(batch))
        .allow(between(1, 1 << 20));
    t.add("total_images", "--images", "Length in generator images",
          ONESTEP_OPTION_MEMBER(total_images))
        .allow(at_least(1))
        .may_change();
    t.add_custom(
         "", "--lr", "Learning rate of both networks",
         [](const DistillOptions& o) { return run::OptionValue(o.lr_generator); },
         [](DistillOptions& o, const run::OptionValue& v) {
           o.lr_generator = o.lr_fake = std::get<double>(v);
         })
        .allow(between(1e-12, 1));
    t.add("lr_generator", "--lr-generator", "Generator learning rate",
          ONESTEP_OPTION_MEMBER(lr_generator))
        .allow(between(1e-12, 1));
    t.add("lr_fake", "--lr-fake", "Fake-score learning rate", ONESTEP_OPTION_MEMBER(lr_fake))
        .allow(between(1e-12, 1));
    t.add("lr_discriminator_head", "--lr-disc-head",
          "Learning rate of the learned discriminator head (0: --lr-fake's)",
          ONESTEP_OPTION_MEMBER(lr_discriminator_head))
        .allow(between(0, 1));
    t.add("beta1", "--beta1", "Adam beta1 of both networks (0)", ONESTEP_OPTION_MEMBER(beta1))
        .allow(between(0, 0.999));
    t.add("beta2", "", "Adam beta2 of both networks", ONESTEP_OPTION_MEMBER(beta2));
    t.add("adam_eps", "", "Adam epsilon", ONESTEP_OPTION_MEMBER(adam_eps)).allow(positive());
    t.add("ema_halflife_images", "--ema-halflife", "Generator EMA half-life, images",
          ONESTEP_OPTION_MEMBER(ema_halflife_images))
        .allow(at_least(0));
    t.add("ema_rampup", "", "EMA ramp-up ratio (0: off)", ONESTEP_OPTION_MEMBER(ema_rampup))
        .allow(at_least(0));
    t.add("fake_grad_clip", "", "Gradient-norm clip of the fake network (0: off)",
          ONESTEP_OPTION_MEMBER(fake_grad_clip))
        .allow(at_least(0));
    t.add("generator_warmup_images", "--generator-warmup", "Images before the generator trains",
          ONESTEP_OPTION_MEMBER(generator_warmup_images))
        .allow(at_least(0));
    t.add("sim_only_images", "--sim-only", "Images of SIM-term-only training",
          ONESTEP_OPTION_MEMBER(sim_only_images))
        .allow(at_least(0));
    t.add("sigma_min", "", "Smallest generator noise level", ONESTEP_OPTION_MEMBER(sigma_min))
        .allow(positive());
    t.add("sigma_max", "", "Largest generator noise level", ONESTEP_OPTION_MEMBER(sigma_max));
    t.add("rho", "", "Karras grid rho", ONESTEP_OPTION_MEMBER(rho)).allow(positive());
    t.add("u_max", "", "Largest grid position of the generator's noise levels",
          ONESTEP_OPTION_MEMBER(u_max))
        .allow(run::positive_up_to(1));
    const EnumNames<SigmaSampling> sampling = {
        {SigmaSampling::grid, "grid"}, {SigmaSampling::lognormal, "lognormal"}};
    t.add_enum("discriminator_sigma_weighting", "--disc-weighting",
               "Discriminator BCE over noise levels: uniform or lambda (EDM's weights)",
               ONESTEP_OPTION_MEMBER(discriminator_sigma_weighting),
               EnumNames<SigmaWeighting>{
                   {SigmaWeighting::uniform, "uniform"}, {SigmaWeighting::lambda, "lambda"}});
    t.add_enum("fake_sigma", "--fake-sigma", "Fake-score noise levels: grid or lognormal",
               ONESTEP_OPTION_MEMBER(fake_sigma), sampling);
    t.add_enum("discriminator_sigma", "--disc-sigma",
               "Discriminator noise levels: grid or lognormal",
               ONESTEP_OPTION_MEMBER(discriminator_sigma), sampling);
    t.add_enum("discriminator_head", "--disc-head",
               "Discriminator logit: mean (of the fake network's bottleneck) or learned (a head "
               "of its own on it)",
               ONESTEP_OPTION_MEMBER(discriminator_head),
               EnumNames<DiscriminatorLogit>{
                   {DiscriminatorLogit::mean, "mean"}, {DiscriminatorLogit::learned, "learned"}});
    t.add("fake_p_mean", "", "Mean of ln(sigma) of the fake network's log-normal levels",
          ONESTEP_OPTION_MEMBER(fake_loss.p_mean));
    t.add("fake_p_std", "", "Std of ln(sigma) of the fake network's log-normal levels",
          ONESTEP_OPTION_MEMBER(fake_loss.p_std))
        .allow(at_least(0));
    t.add("score_scale", "", "Scale of the generator's score loss",
          ONESTEP_OPTION_MEMBER(score_scale))
        .allow(positive());
    t.add("discriminator_weight", "", "Weight of the discriminator's BCE",
          ONESTEP_OPTION_MEMBER(discriminator_weight))
        .allow(at_least(0));
    t.add("regression_pairs", "", "Teacher ODE pairs of the regression term",
          ONESTEP_OPTION_MEMBER(regression_pairs))
        .allow(between(1, 1000000));
    t.add("regression_steps", "", "Heun steps of the regression pairs",
          ONESTEP_OPTION_MEMBER(regression_steps))
        .allow(between(1, 100000));
    t.add("eval_every_images", "--eval-every",
          "Score the EMA generator every this many images, and at the start and end (0: never): "
          "a learning curve in metrics.jsonl",
          ONESTEP_OPTION_MEMBER(eval_every_images))
        .allow(at_least(0))
        .may_change();
    t.add("eval_samples", "--eval-samples", "Samples per score of --eval-every",
          ONESTEP_OPTION_MEMBER(eval_samples))
        .allow(between(2, 1000000))
        .may_change();
    t.add("eval_features", "--eval-features",
          "Feature network of --eval-every's FID on images (default: the one inside onestep)",
          ONESTEP_OPTION_MEMBER(eval_features))
        .may_change();
    run::add_run_options(t, "iteration");
    return t;
  }();
  return table;
}

void DistillOptions::validate() const {
  ONESTEP_CHECK(!teacher.empty(), "distill: teacher is required");
  distill_option_table().check_ranges(*this);
  make_method(method, method_options);  // checks the method and its options
  ONESTEP_CHECK(beta2 >= 0 && beta2 < 1, "distill: Adam needs 0 <= beta2 < 1, got {}", beta2);
  ONESTEP_CHECK(sigma_max > sigma_min, "distill: need sigma_min < sigma_max (got {}, {})",
                sigma_min, sigma_max);
  inject_nan.validate("distill");
  ONESTEP_CHECK(!out.empty(), "distill: out is empty");
}

std::string DistillOptions::to_json() const { return distill_option_table().to_json(*this); }

DistillOptions DistillOptions::from_json(const std::string& text) {
  DistillOptions o;
  const std::vector<std::string> found = distill_option_table().read_json(text, o);
  // "regression_weight", in configs written before the regression term applied to every method,
  // held DMD's weight whatever the method: it counts for dmd only.
  if (std::find(found.begin(), found.end(), "regression") == found.end() &&
      o.method == MethodKind::dmd) {
    run::OptionTable<DistillOptions> legacy("distill");
    legacy.add("regression_weight", "", "", ONESTEP_OPTION_MEMBER(method_options.regression_weight));
    legacy.read_json(text, o);
  }
  o.validate();
  return o;
}

namespace {

// Each preset as the settings it changes from the defaults, named as in distill_option_table(),
// and on the CPU presets uni-instruct's recipe on top: the settings with which its one-step
// generator measured best (docs/DISTILL.md, "The toy demo's recipe" and "The Fashion-MNIST
// recipe"). The other methods keep the preset's general settings and their own published
// defaults: nobody has measured the recipe on them. The GPU presets keep the official settings
// for every method.
const std::vector<run::Preset>& distill_presets() {
  static const std::vector<run::Preset> presets = {
      // lr 1e-4 left the generator near its initial square of samples after 1M images (15-17 of
      // 25 modes); 1e-3 gives reverse KL 25/25 and makes JS and Hellinger train without
      // diverging. The recipe: 25/25 modes, ~90 % of the samples on a mode and the teacher's SWD
      // after 3M images: the regression to teacher ODE pairs keeps every mode, the GAN term
      // sharpens them.
      {"toy",
       "teacher=runs/teacher-toy/teacher.safetensors batch=512 total_images=2000000 "
       "lr_generator=1e-3 lr_fake=1e-3 ema_halflife_images=50000 generator_warmup_images=50000 "
       "sim_only_images=100000 log_every_images=51200 preview_samples=2000 "
       "regression_pairs=4096 out=runs/distill-toy",
       "divergence=js gan_weight=3 regression=1 lr_generator=2e-3 lr_fake=2e-3 "
       "total_images=3000000"},
      // A few hundred iterations fit in ~15 minutes on 2 cores: a high learning rate makes them
      // count (SiD at 1e-4 is sharp after 130 generator updates). The recipe: one step at or
      // below the teacher's Heun-18 FID after 44,800 images (~1.6 h on 2 cores); the real data
      // reaches the generator through a discriminator head that learns fast.
      {"fmnist-cpu",
       "teacher=runs/teacher-fmnist-cpu/teacher.safetensors batch=32 total_images=12800 "
       "lr_generator=1e-4 lr_fake=1e-4 ema_halflife_images=2000 generator_warmup_images=640 "
       "sim_only_images=1280 log_every_images=640 checkpoint_every_images=6400 "
       "regression_pairs=128 out=runs/distill-fmnist-cpu",
       "divergence=js gan_weight=30 regression=0.25 lr_generator=2e-4 lr_fake=2e-4 "
       "discriminator_head=learned lr_discriminator_head=2e-3 total_images=44800"},
      {"fmnist",
       "teacher=runs/teacher-fmnist/teacher.safetensors batch=128 total_images=5000000 "
       "lr_generator=1e-5 lr_fake=1e-5 ema_halflife_images=200000 generator_warmup_images=50000 "
       "sim_only_images=100000 log_every_images=25600 checkpoint_every_images=500000 "
       "out=runs/distill-fmnist",
       ""},
      // The official CIFAR-10 settings of the Uni-Instruct and SiD code (docs/DISTILL.md).
      {"cifar10",
       "teacher=runs/teacher-cifar10/teacher.safetensors batch=256 total_images=100000000 "
       "lr_generator=1e-5 lr_fake=1e-5 ema_halflife_images=500000 generator_warmup_images=100000 "
       "sim_only_images=200000 log_every_images=256000 checkpoint_every_images=5000000 "
       "out=runs/distill-cifar10",
       ""},
      // The official ImageNet-64 settings of the Uni-Instruct and SiD code (their run scripts'
      // imagenet64-cond: batch 8192, lr 4e-6 for both networks, sigma_init 2.5, GAN on, SiD's
      // EMA half-life of 2 M images), for EDM's ADM teacher (docs/EDM_CHECKPOINTS.md).
      {"imagenet64",
       "teacher=runs/teacher-imagenet64/teacher.safetensors batch=8192 total_images=300000000 "
       "lr_generator=4e-6 lr_fake=4e-6 ema_halflife_images=2000000 generator_warmup_images=100000 "
       "sim_only_images=200000 log_every_images=819200 checkpoint_every_images=8192000 "
       "out=runs/distill-imagenet64",
       ""},
  };
  return presets;
}

}  // namespace

const std::vector<std::string>& distill_preset_names() {
  static const std::vector<std::string> names = run::preset_names(distill_presets());
  return names;
}

DistillOptions distill_preset(const std::string& name, const std::string& method) {
  const run::Preset& preset = run::find_preset(distill_presets(), name);
  DistillOptions o;
  o.preset = name;
  o.method = parse_method(method);
  distill_option_table().apply_settings(preset.settings, o);
  if (method == "uni-instruct") distill_option_table().apply_settings(preset.recipe, o);
  return o;
}

}  // namespace onestep::distill
