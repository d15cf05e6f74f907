// `onestep teacher`: train an EDM teacher (diffusion/teacher.h).

#include <csignal>

#include "commands.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/engine.h"
#include "onestep/run/run.h"
#include "option_flags.h"

namespace onestep::app {

namespace {

using TeacherFlags = OptionFlags<diffusion::TeacherOptions>;

int run_teacher(CLI::App& cmd, const TeacherFlags& f) {
  const diffusion::TeacherOptions o = f.resolve(
      [](const std::string& preset, const auto&) { return diffusion::teacher_preset(preset); },
      diffusion::read_teacher_config);
  check_device_flag(o.device);
  if (!f.resume()) check_output_folder("--out", o.out);
  if (cmd.count("--data")) check_flag("--data", [&] { diffusion::describe_dataset(o.data); });
  f.check([&] { diffusion::check_teacher_options(o, f.resume()); });

  fmt::print("onestep teacher: {} on {} -> {} ({} images, batch {}, {}{}{})\n", diffusion::arch_name(o.model.arch),
             o.data, o.out, o.total_images, o.batch, device_description(o.device.str()),
             precision_suffix(o.precision, o.device), f.resume() ? ", resuming" : "");
  const diffusion::TeacherResult r =
      f.train([&] { return diffusion::train_teacher(o, f.resume()); });
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
  CLI::App* cmd = app.add_subcommand("teacher", "Train an EDM teacher (diffusion model)");
  auto f = std::make_shared<TeacherFlags>(*cmd, diffusion::teacher_option_table(),
                                          diffusion::teacher_preset_names(),
                                          "Starting settings: toy, fmnist-cpu, fmnist, cifar10");
  return [cmd, f] { return run_teacher(*cmd, *f); };
}

}  // namespace onestep::app
