// `onestep teacher`: train an EDM teacher (diffusion/teacher.h).

#include <csignal>

#include "commands.h"
#include "option_flags.h"
#include "onestep/run/run.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/engine.h"

namespace onestep::app {

namespace {

struct TeacherFlags {
  std::string preset = "toy";
  bool resume = false;
  std::unique_ptr<OptionFlags<diffusion::TeacherOptions>> options;
};

int run_teacher(CLI::App& cmd, TeacherFlags& f) {
  diffusion::TeacherOptions given;  // what the flags say, on the defaults
  f.options->apply(cmd, given);
  diffusion::TeacherOptions o;
  if (f.resume) {
    ONESTEP_USAGE_CHECK(cmd.count("--preset") == 0,
                        "--preset cannot be combined with --resume: the settings come from "
                        "{}/config.json",
                        given.out);
    f.options->refuse_fixed_on_resume(cmd, given.out);
    ONESTEP_USAGE_CHECK(cmd.count("--out") > 0, "--resume needs --out, the run to continue");
    check_flag("--out", [&] { run::check_run_directory(given.out, true, "teacher"); });
    o = diffusion::read_teacher_config(given.out);
  } else {
    o = diffusion::teacher_preset(f.preset);
  }
  f.options->apply(cmd, o);
  check_device_flag(o.device);
  if (!f.resume) check_output_folder("--out", o.out);
  if (cmd.count("--data")) check_flag("--data", [&] { diffusion::describe_dataset(o.data); });
  f.options->check([&] { diffusion::check_teacher_options(o, f.resume); });

  fmt::print("onestep teacher: {} on {} -> {} ({} images, batch {}, {}{}{})\n", o.model.arch,
             o.data, o.out, o.total_images, o.batch, device_description(o.device),
             precision_suffix(o.precision, o.device), f.resume ? ", resuming" : "");
  const diffusion::TeacherResult r =
      f.options->train([&] { return diffusion::train_teacher(o, f.resume); });
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
      ->check(member_of(diffusion::teacher_preset_names()))
      ->capture_default_str();
  cmd->add_flag("--resume", f->resume, "Continue the run in --out");
  f->options = std::make_unique<OptionFlags<diffusion::TeacherOptions>>(
      *cmd, diffusion::teacher_option_table());
  return [cmd, f] { return run_teacher(*cmd, *f); };
}

}  // namespace onestep::app
