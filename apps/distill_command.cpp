// `onestep distill`: distil a teacher into a one-step generator (distill/distill.h).

#include <cmath>

#include "commands.h"
#include "onestep/diffusion/run.h"
#include "onestep/distill/distill.h"
#include "onestep/engine.h"

namespace onestep::app {

namespace {

struct DistillFlags {
  std::string preset = "toy";
  bool resume = false;
  double lr = 0;
  distill::DistillOptions o;
};

const char* const kTrainingFlags[] = {
    "--preset",          "--teacher",    "--data",         "--method",
    "--divergence",      "--alpha",      "--sid-alpha",    "--sim-c",
    "--ratio-gradient",  "--gan-weight", "--fake-steps",   "--regression-weight",
    "--normalise-ratio", "--sigma-init", "--batch",        "--lr",
    "--lr-generator",    "--lr-fake",    "--ema-halflife", "--generator-warmup",
    "--sim-only",        "--seed",       "--preview",      "--fake-sigma",
    "--disc-weighting",  "--beta1",      "--gan-over-nu",  "--disc-sigma",
    "--disc-head",       "--lr-disc-head"};

int run_distill(CLI::App& cmd, DistillFlags& f) {
  distill::DistillOptions o;
  if (f.resume) {
    for (const char* flag : kTrainingFlags)
      ONESTEP_USAGE_CHECK(
          cmd.count(flag) == 0,
          "{} cannot be combined with --resume: the settings come from {}/config.json", flag,
          f.o.out);
    ONESTEP_USAGE_CHECK(cmd.count("--out") > 0, "--resume needs --out, the run to continue");
    check_flag("--out", [&] { diffusion::check_run_directory(f.o.out, true, "distill"); });
    o = distill::read_distill_config(f.o.out);
    o.out = f.o.out;
  } else {
    // The preset's settings for the method: on the CPU presets uni-instruct's are its recipe.
    o = distill::distill_preset(f.preset, f.o.method);
    const distill::DistillOptions& g = f.o;
    o.out = cmd.count("--out") ? g.out : o.out;
    if (cmd.count("--teacher")) o.teacher = g.teacher;
    if (cmd.count("--data")) o.data = g.data;
    if (cmd.count("--divergence")) o.method_options.divergence = g.method_options.divergence;
    if (cmd.count("--alpha")) o.method_options.alpha = g.method_options.alpha;
    if (cmd.count("--sid-alpha")) o.method_options.sid_alpha = g.method_options.sid_alpha;
    if (cmd.count("--sim-c")) o.method_options.sim_c = g.method_options.sim_c;
    if (cmd.count("--ratio-gradient"))
      o.method_options.ratio_gradient = g.method_options.ratio_gradient;
    if (cmd.count("--gan-weight")) o.method_options.gan_weight = g.method_options.gan_weight;
    if (cmd.count("--fake-steps")) o.method_options.fake_steps = g.method_options.fake_steps;
    if (cmd.count("--regression-weight"))
      o.method_options.regression_weight = g.method_options.regression_weight;
    if (cmd.count("--normalise-ratio")) o.method_options.normalise_ratio = true;
    if (cmd.count("--gan-over-nu")) o.method_options.gan_over_nu = true;
    if (cmd.count("--sigma-init")) o.sigma_init = g.sigma_init;
    if (cmd.count("--batch")) o.batch = g.batch;
    if (cmd.count("--lr")) o.lr_generator = o.lr_fake = f.lr;
    if (cmd.count("--lr-generator")) o.lr_generator = g.lr_generator;
    if (cmd.count("--lr-fake")) o.lr_fake = g.lr_fake;
    if (cmd.count("--lr-disc-head")) o.lr_discriminator_head = g.lr_discriminator_head;
    if (cmd.count("--ema-halflife")) o.ema_halflife_images = g.ema_halflife_images;
    if (cmd.count("--generator-warmup")) o.generator_warmup_images = g.generator_warmup_images;
    if (cmd.count("--sim-only")) o.sim_only_images = g.sim_only_images;
    if (cmd.count("--seed")) o.seed = g.seed;
    if (cmd.count("--fake-sigma")) o.fake_sigma = g.fake_sigma;
    if (cmd.count("--disc-sigma")) o.discriminator_sigma = g.discriminator_sigma;
    if (cmd.count("--disc-head")) o.discriminator_head = g.discriminator_head;
    if (cmd.count("--beta1")) o.beta1 = g.beta1;
    if (cmd.count("--disc-weighting"))
      o.discriminator_sigma_weighting = g.discriminator_sigma_weighting;
    if (cmd.count("--preview")) o.preview_samples = g.preview_samples;
  }
  if (cmd.count("--images")) o.total_images = f.o.total_images;
  if (cmd.count("--device")) o.device = f.o.device;
  if (cmd.count("--precision")) o.precision = f.o.precision;
  if (cmd.count("--log-every")) o.log_every_images = f.o.log_every_images;
  if (cmd.count("--checkpoint-every")) o.checkpoint_every_images = f.o.checkpoint_every_images;
  if (cmd.count("--eval-every")) o.eval_every_images = f.o.eval_every_images;
  if (cmd.count("--eval-samples")) o.eval_samples = f.o.eval_samples;
  if (cmd.count("--eval-features")) o.eval_features = f.o.eval_features;
  if (o.eval_features.empty()) o.eval_features = ONESTEP_DEFAULT_FEATURES;
  if (cmd.count("--max-consecutive-skips")) o.max_consecutive_skips = f.o.max_consecutive_skips;
  o.inject_nan = f.o.inject_nan;
  ONESTEP_USAGE_CHECK(
      !(cmd.count("--lr") && (cmd.count("--lr-generator") || cmd.count("--lr-fake"))),
      "--lr sets both learning rates; it cannot be combined with --lr-generator "
      "or --lr-fake");
  ONESTEP_USAGE_CHECK(cmd.count("--alpha") == 0 || o.method_options.divergence == "alpha",
                      "--alpha applies only to --divergence alpha (got --divergence {})",
                      o.method_options.divergence);
  check_device_flag(o.device);
  if (!f.resume) check_output_folder("--out", o.out);
  if (cmd.count("--data")) check_flag("--data", [&] { diffusion::describe_dataset(o.data); });
  if (cmd.count("--divergence"))
    check_flag("--divergence", [&] { distill::parse_divergence(o.method_options.divergence); });
  check_flags(cmd, [&] { distill::check_distill_options(o, f.resume); });
  const distill::Method method = distill::make_method(o.method, o.method_options);
  fmt::print("onestep distill: {} -> {} with {} ({} images, batch {}, {}{}{})\n", o.teacher,
             o.out, method.describe(), o.total_images, o.batch, device_description(o.device),
             precision_suffix(o.precision, o.device), f.resume ? ", resuming" : "");
  const distill::DistillResult r = distill::distill(o, f.resume);
  // NaN when the last log interval had no generator update: the run ended in its warm-up.
  const std::string generator_loss =
      std::isnan(r.last_generator_loss)
          ? std::string("no generator update yet (warm-up)")
          : fmt::format("last generator loss {:.4f}", r.last_generator_loss);
  fmt::print("{} iterations, {} images ({} skipped steps) in {:.1f} s: {:.1f} images/s; {}, fake "
             "loss {:.4f}\n",
             r.iterations, r.images, r.skipped_steps, r.seconds, r.images_per_second,
             generator_loss, r.last_fake_loss);
  if (r.stop_signal != 0) {
    fmt::print("stopped by signal {}; checkpoint written, continue with --resume --out {}\n",
               r.stop_signal, o.out);
    return 128 + r.stop_signal;
  }
  fmt::print("generator: {}/generator.safetensors (sample it with onestep sample --model)\n",
             o.out);
  return 0;
}

}  // namespace

Run add_distill_command(CLI::App& app) {
  auto f = std::make_shared<DistillFlags>();
  distill::DistillOptions& o = f->o;
  CLI::App* cmd = app.add_subcommand("distill", "Distil a teacher into a one-step generator");
  cmd->add_option("--preset", f->preset,
                  "Starting settings: toy, fmnist-cpu, fmnist, cifar10 (with uni-instruct on toy "
                  "and fmnist-cpu: its measured recipe)")
      ->check(CLI::IsMember(distill::distill_preset_names()))
      ->capture_default_str();
  cmd->add_option("--teacher", o.teacher, "Teacher checkpoint (default from the preset)");
  cmd->add_option("--data", o.data, "Real data for the discriminator (default: the teacher's)");
  cmd->add_option("--method", o.method, fmt::format("{}", fmt::join(distill::method_names(), ", ")))
      ->check(CLI::IsMember(distill::method_names()));
  cmd->add_option("--divergence", o.method_options.divergence,
                  fmt::format("{} (default: jeffreys; js for f-distill)",
                              fmt::join(distill::divergence_names(), ", ")));
  cmd->add_option("--alpha", o.method_options.alpha, "alpha of the alpha-divergence");
  cmd->add_option("--sid-alpha", o.method_options.sid_alpha, "SiD's alpha (1.2)")
      ->check(kPositive);
  cmd->add_option("--sim-c", o.method_options.sim_c, "SIM pseudo-Huber c")
      ->check(kPositive);
  cmd->add_option("--ratio-gradient", o.method_options.ratio_gradient,
                  "Uni-Instruct ratio gradient: discriminator or closed-form")
      ->check(CLI::IsMember({"discriminator", "closed-form"}));
  cmd->add_option("--gan-weight", o.method_options.gan_weight,
                  "GAN weight (method default when omitted)")
      ->check(kNonNegative);
  cmd->add_option("--fake-steps", o.method_options.fake_steps, "Fake updates per generator update")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--regression-weight", o.method_options.regression_weight,
                  "Weight of the MSE to teacher ODE pairs (DMD's regression; any method; "
                  "default 0.25 for dmd, 0 otherwise)")
      ->check(kNonNegative);
  cmd->add_flag("--normalise-ratio", o.method_options.normalise_ratio,
                "Divide r by its batch mean");
  cmd->add_flag("--gan-over-nu", o.method_options.gan_over_nu,
                "Multiply the GAN term by the batch mean of 1/nu, as the official code does");
  cmd->add_option("--sigma-init", o.sigma_init, "Generator noise level (2.5)")
      ->check(kPositive);
  cmd->add_option("--batch", o.batch, "Batch size")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--images", o.total_images, "Length in generator images")
      ->check(kPositive);
  cmd->add_option("--lr", f->lr, "Learning rate of both networks")->check(CLI::Range(1e-12, 1.0));
  cmd->add_option("--lr-generator", o.lr_generator, "Generator learning rate")
      ->check(CLI::Range(1e-12, 1.0));
  cmd->add_option("--lr-fake", o.lr_fake, "Fake-score learning rate")
      ->check(CLI::Range(1e-12, 1.0));
  cmd->add_option("--lr-disc-head", o.lr_discriminator_head,
                  "Learning rate of the learned discriminator head (0: --lr-fake's)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--ema-halflife", o.ema_halflife_images, "Generator EMA half-life, images")
      ->check(kNonNegative);
  cmd->add_option("--generator-warmup", o.generator_warmup_images,
                  "Images before the generator trains")
      ->check(kNonNegative);
  cmd->add_option("--sim-only", o.sim_only_images, "Images of SIM-term-only training")
      ->check(kNonNegative);
  cmd->add_option("--seed", o.seed, "Random seed")->check(kNonNegative);
  cmd->add_option("--device", o.device, "Where the networks run: cpu, cuda or cuda:N");
  add_precision_flag(*cmd, o.precision);
  cmd->add_option("--beta1", o.beta1, "Adam beta1 of both networks (0)")
      ->check(CLI::Range(0.0, 0.999));
  cmd->add_option("--disc-weighting", o.discriminator_sigma_weighting,
                  "Discriminator BCE over noise levels: uniform or lambda (EDM's weights)")
      ->check(CLI::IsMember({"uniform", "lambda"}));
  cmd->add_option("--fake-sigma", o.fake_sigma, "Fake-score noise levels: grid or lognormal")
      ->check(CLI::IsMember({"grid", "lognormal"}));
  cmd->add_option("--disc-sigma", o.discriminator_sigma,
                  "Discriminator noise levels: grid or lognormal")
      ->check(CLI::IsMember({"grid", "lognormal"}));
  cmd->add_option("--disc-head", o.discriminator_head,
                  "Discriminator logit: mean (of the fake network's bottleneck) or learned (a "
                  "head of its own on it)")
      ->check(CLI::IsMember({"mean", "learned"}));
  cmd->add_option("--out", o.out, "Run directory (default from the preset)");
  cmd->add_flag("--resume", f->resume, "Continue the run in --out");
  cmd->add_option("--log-every", o.log_every_images, "Log interval, images")
      ->check(kPositive);
  cmd->add_option("--checkpoint-every", o.checkpoint_every_images,
                  "Checkpoint interval, images (0: end only)")
      ->check(kNonNegative);
  cmd->add_option("--eval-every", o.eval_every_images,
                  "Score the EMA generator every this many images, and at the start and end "
                  "(0: never): a learning curve in metrics.jsonl")
      ->check(kNonNegative);
  cmd->add_option("--eval-samples", o.eval_samples, "Samples per score of --eval-every")
      ->check(CLI::Range(int64_t{2}, int64_t{1000000}));
  cmd->add_option("--eval-features", o.eval_features,
                  "Feature network of --eval-every's FID on images (default: the committed one)");
  cmd->add_option("--preview", o.preview_samples, "Samples in the final preview (0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  cmd->add_option("--max-consecutive-skips", o.max_consecutive_skips,
                  "Skipped (non-finite) updates in a row before the run stops")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000000}))
      ->capture_default_str();
  cmd->add_option("--inject-nan-at", o.inject_nan.loss_steps,
                  "Debug: treat the losses of these iterations (1, 2, ...) as NaN, e.g. 5,6")
      ->delimiter(',')
      ->check(kPositive)
      ->group("Debugging");
  cmd->add_option("--inject-nan-grad-at", o.inject_nan.grad_steps,
                  "Debug: make the gradients of these iterations NaN")
      ->delimiter(',')
      ->check(kPositive)
      ->group("Debugging");
  return [cmd, f] { return run_distill(*cmd, *f); };
}

}  // namespace onestep::app
