// `onestep distill`: distil a teacher into a one-step generator (distill/distill.h).

#include <cmath>

#include "commands.h"
#include "option_flags.h"
#include "onestep/run/run.h"
#include "onestep/distill/distill.h"
#include "onestep/engine.h"

namespace onestep::app {

namespace {

struct DistillFlags {
  std::string preset = "toy";
  bool resume = false;
  std::unique_ptr<OptionFlags<distill::DistillOptions>> options;
};

int run_distill(CLI::App& cmd, DistillFlags& f) {
  distill::DistillOptions given;  // what the flags say, on the defaults
  f.options->apply(cmd, given);
  distill::DistillOptions o;
  if (f.resume) {
    ONESTEP_USAGE_CHECK(cmd.count("--preset") == 0,
                        "--preset cannot be combined with --resume: the settings come from "
                        "{}/config.json",
                        given.out);
    f.options->refuse_fixed_on_resume(cmd, given.out);
    ONESTEP_USAGE_CHECK(cmd.count("--out") > 0, "--resume needs --out, the run to continue");
    check_flag("--out", [&] { run::check_run_directory(given.out, true, "distill"); });
    o = distill::read_distill_config(given.out);
  } else {
    // The preset's settings for the method: on the CPU presets uni-instruct's are its recipe.
    o = distill::distill_preset(f.preset, given.method);
  }
  f.options->apply(cmd, o);
  if (o.eval_features.empty()) o.eval_features = ONESTEP_DEFAULT_FEATURES;
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
  f.options->check([&] { distill::check_distill_options(o, f.resume); });
  const distill::Method method = distill::make_method(o.method, o.method_options);
  fmt::print("onestep distill: {} -> {} with {} ({} images, batch {}, {}{}{})\n", o.teacher,
             o.out, method.describe(), o.total_images, o.batch, device_description(o.device),
             precision_suffix(o.precision, o.device), f.resume ? ", resuming" : "");
  const distill::DistillResult r =
      f.options->train([&] { return distill::distill(o, f.resume); });
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
  CLI::App* cmd = app.add_subcommand("distill", "Distil a teacher into a one-step generator");
  cmd->add_option("--preset", f->preset,
                  "Starting settings: toy, fmnist-cpu, fmnist, cifar10 (with uni-instruct on toy "
                  "and fmnist-cpu: its measured recipe)")
      ->check(member_of(distill::distill_preset_names()))
      ->capture_default_str();
  cmd->add_flag("--resume", f->resume, "Continue the run in --out");
  f->options = std::make_unique<OptionFlags<distill::DistillOptions>>(
      *cmd, distill::distill_option_table());
  return [cmd, f] { return run_distill(*cmd, *f); };
}

}  // namespace onestep::app
