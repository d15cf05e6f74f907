// `onestep teacher`: train an EDM teacher (diffusion/teacher.h).

#include <csignal>

#include "commands.h"
#include "onestep/diffusion/run.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/engine.h"

namespace onestep::app {

namespace {

struct TeacherFlags {
  std::string preset = "toy";
  bool resume = false;
  diffusion::TeacherOptions o;  // overrides, applied on top of the preset
  std::string arch;
  std::vector<int64_t> channel_mult, attn;
  int64_t channels = 0, blocks = 0, hidden = 0;
  double dropout = -1;
};

// Flags that change what is trained; refused with --resume (the run's config.json decides).
const char* const kTrainingFlags[] = {
    "--preset",    "--data",         "--cond",       "--hflip",     "--batch",   "--lr",
    "--lr-warmup", "--ema-halflife", "--ema-rampup", "--grad-clip", "--seed",    "--arch",
    "--channels",  "--channel-mult", "--blocks",     "--attn",      "--dropout", "--hidden",
    "--p-mean",    "--p-std",        "--sigma-data", "--preview"};

int run_teacher(CLI::App& cmd, TeacherFlags& f) {
  diffusion::TeacherOptions o;
  if (f.resume) {
    for (const char* flag : kTrainingFlags)
      ONESTEP_USAGE_CHECK(
          cmd.count(flag) == 0,
          "{} cannot be combined with --resume: the settings come from {}/config.json", flag,
          f.o.out);
    ONESTEP_USAGE_CHECK(cmd.count("--out") > 0, "--resume needs --out, the run to continue");
    check_flag("--out", [&] { diffusion::check_run_directory(f.o.out, true, "teacher"); });
    o = diffusion::read_teacher_config(f.o.out);
    o.out = f.o.out;
  } else {
    o = diffusion::teacher_preset(f.preset);
    if (cmd.count("--out") == 0) f.o.out = o.out;
    o.out = f.o.out;
    if (cmd.count("--data")) o.data = f.o.data;
    if (cmd.count("--cond")) o.cond = true;
    if (cmd.count("--hflip")) o.hflip = true;
    if (cmd.count("--batch")) o.batch = f.o.batch;
    if (cmd.count("--lr")) o.lr = f.o.lr;
    if (cmd.count("--lr-warmup")) o.lr_warmup_images = f.o.lr_warmup_images;
    if (cmd.count("--ema-halflife")) o.ema_halflife_images = f.o.ema_halflife_images;
    if (cmd.count("--ema-rampup")) o.ema_rampup = f.o.ema_rampup;
    if (cmd.count("--grad-clip")) o.grad_clip = f.o.grad_clip;
    if (cmd.count("--seed")) o.seed = f.o.seed;
    if (cmd.count("--p-mean")) o.loss.p_mean = f.o.loss.p_mean;
    if (cmd.count("--p-std")) o.loss.p_std = f.o.loss.p_std;
    if (cmd.count("--sigma-data")) o.model.sigma_data = f.o.model.sigma_data;
    if (cmd.count("--preview")) o.preview_samples = f.o.preview_samples;
    if (cmd.count("--arch")) o.model.arch = f.arch;
    if (cmd.count("--channels")) o.model.unet.model_channels = f.channels;
    if (cmd.count("--channel-mult")) o.model.unet.channel_mult = f.channel_mult;
    if (cmd.count("--blocks")) o.model.unet.num_blocks = o.model.mlp.num_blocks = f.blocks;
    if (cmd.count("--attn")) o.model.unet.attn_resolutions = f.attn;
    if (cmd.count("--dropout")) o.model.unet.dropout = f.dropout;
    if (cmd.count("--hidden")) o.model.mlp.hidden = f.hidden;
  }
  if (cmd.count("--images")) o.total_images = f.o.total_images;
  if (cmd.count("--device")) o.device = f.o.device;
  if (cmd.count("--precision")) o.precision = f.o.precision;
  if (cmd.count("--log-every")) o.log_every_images = f.o.log_every_images;
  if (cmd.count("--checkpoint-every")) o.checkpoint_every_images = f.o.checkpoint_every_images;
  if (cmd.count("--max-consecutive-skips")) o.max_consecutive_skips = f.o.max_consecutive_skips;
  o.inject_nan = f.o.inject_nan;
  check_device_flag(o.device);
  if (!f.resume) check_output_folder("--out", o.out);
  if (cmd.count("--data")) check_flag("--data", [&] { diffusion::describe_dataset(o.data); });
  check_flags(cmd, [&] { diffusion::check_teacher_options(o, f.resume); });

  fmt::print("onestep teacher: {} on {} -> {} ({} images, batch {}, {}{}{})\n", o.model.arch,
             o.data, o.out, o.total_images, o.batch, device_description(o.device),
             precision_suffix(o.precision, o.device), f.resume ? ", resuming" : "");
  const diffusion::TeacherResult r = diffusion::train_teacher(o, f.resume);
  fmt::print(
      "{} steps, {} images ({} skipped steps) in {:.1f} s: {:.1f} images/s, last loss {:.4f}\n",
      r.steps, r.images, r.skipped_steps, r.seconds, r.images_per_second, r.last_loss);
  if (r.stop_signal != 0) {
    fmt::print("stopped by signal {}; checkpoint written, continue with --resume --out {}\n",
               r.stop_signal, o.out);
    return 128 + r.stop_signal;
  }
  fmt::print("teacher: {}/teacher.safetensors\n", o.out);
  return 0;
}

}  // namespace

Run add_teacher_command(CLI::App& app) {
  auto f = std::make_shared<TeacherFlags>();
  CLI::App* cmd = app.add_subcommand("teacher", "Train an EDM teacher (diffusion model)");
  cmd->add_option("--preset", f->preset, "Starting settings: toy, fmnist-cpu, fmnist, cifar10")
      ->check(CLI::IsMember(diffusion::teacher_preset_names()))
      ->capture_default_str();
  cmd->add_option(
      "--data", f->o.data,
      "Dataset: toy:25gaussians|toy:8gaussians|toy:swissroll|toy:checkerboard|toy:moons, "
      "fashion-mnist[:DIR], cifar10:DIR, png:DIR");
  cmd->add_option("--out", f->o.out, "Run directory (default from the preset)");
  cmd->add_flag("--resume", f->resume, "Continue the run in --out");
  cmd->add_flag("--cond", f->o.cond, "Class-conditional (labelled data)");
  cmd->add_flag("--hflip", f->o.hflip, "Random horizontal flips");
  cmd->add_option("--images", f->o.total_images, "Training length in images")
      ->check(kPositive);
  cmd->add_option("--batch", f->o.batch, "Batch size")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--lr", f->o.lr, "Adam learning rate")->check(CLI::Range(1e-12, 10.0));
  cmd->add_option("--lr-warmup", f->o.lr_warmup_images, "Linear lr warm-up, images")
      ->check(kNonNegative);
  cmd->add_option("--ema-halflife", f->o.ema_halflife_images, "EMA half-life, images")
      ->check(kNonNegative);
  cmd->add_option("--ema-rampup", f->o.ema_rampup, "EMA ramp-up ratio (0: off)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--grad-clip", f->o.grad_clip, "Clip the gradient norm (0: off)")
      ->check(kNonNegative);
  cmd->add_option("--p-mean", f->o.loss.p_mean, "Mean of ln(sigma) in training");
  cmd->add_option("--p-std", f->o.loss.p_std, "Std of ln(sigma) in training")
      ->check(kNonNegative);
  cmd->add_option("--sigma-data", f->o.model.sigma_data, "EDM sigma_data")
      ->check(kPositive);
  cmd->add_option("--seed", f->o.seed, "Random seed")->check(kNonNegative);
  cmd->add_option("--device", f->o.device, "Where the networks run: cpu, cuda or cuda:N");
  add_precision_flag(*cmd, f->o.precision);
  cmd->add_option("--log-every", f->o.log_every_images, "Log interval, images")
      ->check(kPositive);
  cmd->add_option("--checkpoint-every", f->o.checkpoint_every_images,
                  "Checkpoint interval, images (0: end only)")
      ->check(kNonNegative);
  cmd->add_option("--preview", f->o.preview_samples, "Samples in the final preview (0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  cmd->add_option("--max-consecutive-skips", f->o.max_consecutive_skips,
                  "Non-finite steps in a row before the run stops")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000000}))
      ->capture_default_str();
  cmd->add_option("--inject-nan-at", f->o.inject_nan.loss_steps,
                  "Debug: treat the loss of these steps (1, 2, ...) as NaN, e.g. 5,6")
      ->delimiter(',')
      ->check(kPositive)
      ->group("Debugging");
  cmd->add_option("--inject-nan-grad-at", f->o.inject_nan.grad_steps,
                  "Debug: make the gradients of these steps NaN")
      ->delimiter(',')
      ->check(kPositive)
      ->group("Debugging");
  cmd->add_option("--arch", f->arch, "Network: songunet or mlp")
      ->check(CLI::IsMember({"songunet", "mlp"}));
  cmd->add_option("--channels", f->channels, "SongUNet model_channels")
      ->check(CLI::Range(int64_t{4}, int64_t{4096}));
  cmd->add_option("--channel-mult", f->channel_mult, "SongUNet channel_mult, e.g. 1,2,2")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  cmd->add_option("--blocks", f->blocks, "Residual blocks per resolution")
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  cmd->add_option("--attn", f->attn, "Resolutions with self-attention, e.g. 16")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  cmd->add_option("--dropout", f->dropout, "SongUNet dropout")->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--hidden", f->hidden, "MLP width")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  return [cmd, f] { return run_teacher(*cmd, *f); };
}

}  // namespace onestep::app
