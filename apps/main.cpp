// onestep: train diffusion teachers and distill them into one-step generators.

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <map>

#include "commands.h"
#include "onestep/engine.h"
#include "onestep_version.h"

namespace {

std::string version_text() {
  return fmt::format("onestep {} (git {}, {} build, CUDA {}, CPU bf16 {})", ONESTEP_VERSION,
                     ONESTEP_GIT_HASH, ONESTEP_BUILD_TYPE,
                     onestep::cuda::emulated()   ? "emulated"
                     : onestep::cuda::compiled() ? "on"
                                                 : "off",
                     onestep::cpu_has_bf16_instructions() ? "AVX512_BF16" : "via float32");
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) then makes writes fail with EFBIG, reported as one clear error
  // with the previous checkpoint kept, instead of killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"onestep: diffusion teachers and one-step generators (Uni-Instruct)"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  const std::map<std::string, onestep::app::Run> commands = {
      {"teacher", onestep::app::add_teacher_command(app)},
      {"sample", onestep::app::add_sample_command(app)},
      {"distill", onestep::app::add_distill_command(app)},
      {"eval", onestep::app::add_eval_command(app)},
      {"bench", onestep::app::add_bench_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help/version itself (exit 0) and one line per usage error (exit 2 here).
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    return commands.at(app.get_subcommands().front()->get_name())();
  } catch (const onestep::app::UsageError& e) {
    std::fprintf(stderr, "onestep: %s\nRun with --help for more information.\n", e.what());
    return 2;
  } catch (const onestep::Error& e) {
    std::fprintf(stderr, "onestep: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // Anything else (out of memory, a filesystem error) is still one line, never a crash.
    std::fprintf(stderr, "onestep: error: %s\n", e.what());
    return 1;
  }
}
