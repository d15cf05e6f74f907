// `onestep distill`: distil a teacher into a one-step generator (distill/distill.h).

#include <cmath>

#include "commands.h"
#include "onestep/distill/distill.h"
#include "onestep/engine.h"
#include "onestep/run/run.h"
#include "option_flags.h"

namespace onestep::app {

namespace {

using DistillFlags = OptionFlags<distill::DistillOptions>;

int run_distill(CLI::App& cmd, const DistillFlags& f) {
  // The preset's settings for the method: on the CPU presets uni-instruct's are its recipe.
  distill::DistillOptions o = f.resolve(
      [](const std::string& preset, const distill::DistillOptions& given) {
        return distill::distill_preset(preset, distill::method_name(given.method));
      },
      distill::read_distill_config);
  ONESTEP_USAGE_CHECK(
      !(cmd.count("--lr") && (cmd.count("--lr-generator") || cmd.count("--lr-fake"))),
      "--lr sets both learning rates; it cannot be combined with --lr-generator "
      "or --lr-fake");
  ONESTEP_USAGE_CHECK(cmd.count("--alpha") == 0 || o.method_options.divergence == "alpha",
                      "--alpha applies only to --divergence alpha (got --divergence {})",
                      o.method_options.divergence);
  check_device_flag(o.device);
  if (!f.resume()) check_output_folder("--out", o.out);
  if (cmd.count("--data")) check_flag("--data", [&] { diffusion::describe_dataset(o.data); });
  if (cmd.count("--divergence"))
    check_flag("--divergence", [&] { distill::parse_divergence(o.method_options.divergence); });
  f.check([&] { distill::check_distill_options(o, f.resume()); });
  const distill::Method method = distill::make_method(o.method, o.method_options);
  fmt::print("onestep distill: {} -> {} with {} ({} images, batch {}, {}{}{})\n", o.teacher, o.out,
             method.describe(), o.total_images, o.batch, device_description(o.device.str()),
             precision_suffix(o.precision, o.device), f.resume() ? ", resuming" : "");
  const distill::DistillResult r = f.train([&] { return distill::distill(o, f.resume()); });
  // NaN when the last log interval had no generator update: the run ended in its warm-up.
  const std::string generator_loss =
      std::isnan(r.last_generator_loss)
          ? std::string("no generator update yet (warm-up)")
          : fmt::format("last generator loss {:.4f}", r.last_generator_loss);
  fmt::print(
      "{} iterations, {} images ({} skipped steps) in {:.1f} s: {:.1f} images/s; {}, fake "
      "loss {:.4f}\n",
      r.steps, r.images, r.skipped_steps, r.seconds, r.images_per_second, generator_loss,
      r.last_fake_loss);
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
  CLI::App* cmd = app.add_subcommand("distill", "Distil a teacher into a one-step generator");
  auto f = std::make_shared<DistillFlags>(
      *cmd, distill::distill_option_table(), distill::distill_preset_names(),
      "Starting settings: toy, fmnist-cpu, fmnist, cifar10 (with uni-instruct on toy and "
      "fmnist-cpu: its measured recipe)");
  return [cmd, f] { return run_distill(*cmd, *f); };
}

}  // namespace onestep::app
