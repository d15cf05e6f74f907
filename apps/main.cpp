// onestep: train diffusion teachers and distill them into one-step generators.

#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

#include "commands.h"
#include "onestep/engine.h"
#include "onestep/run/process_group.h"
#include "onestep_version.h"

namespace {

std::string version_text() {
  return fmt::format("onestep {} (git {}, {} build, CUDA {}, CPU bf16 {}, data parallel {})",
                     ONESTEP_VERSION, ONESTEP_GIT_HASH, ONESTEP_BUILD_TYPE,
                     onestep::cuda::emulated()   ? "emulated"
                     : onestep::cuda::compiled() ? "on"
                                                 : "off",
                     onestep::cpu_has_bf16_instructions() ? "AVX512_BF16" : "via float32",
                     onestep::run::nccl_compiled()  ? "MPI + NCCL"
                     : onestep::run::mpi_compiled() ? "MPI"
                                                    : "off");
}

// ONESTEP_DIST_TIMEOUT: the longest a data-parallel rank waits for the others, in seconds
// (default 900: longer than rank 0's slowest checkpoint or evaluation; 0: no limit).
double dist_timeout_seconds() {
  const char* text = std::getenv("ONESTEP_DIST_TIMEOUT");
  if (text == nullptr || *text == '\0') return 900;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  ONESTEP_CHECK(*end == '\0' && seconds >= 0 && std::isfinite(seconds),
                "ONESTEP_DIST_TIMEOUT must be a number of seconds >= 0, got '{}'", text);
  return seconds;
}

// Errors name the rank in a data-parallel run: any rank may fail alone.
std::string error_prefix() {
  const onestep::run::ProcessGroup& group = onestep::run::process_group();
  if (group.size() == 1) return "onestep: error";
  return fmt::format("onestep: error (rank {} of {})", group.rank(), group.size());
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
  // Under mpirun (a build with ONESTEP_MPI) the ranks of a data-parallel run; rank 0 alone
  // prints results, every rank prints its errors.
  std::unique_ptr<onestep::run::DataParallelSession> session;
  try {
    session =
        std::make_unique<onestep::run::DataParallelSession>(&argc, &argv, dist_timeout_seconds());
  } catch (const onestep::Error& e) {
    std::fprintf(stderr, "onestep: error: %s\n", e.what());
    return 1;
  }
  const onestep::run::ProcessGroup& group = onestep::run::process_group();
  const std::string command = app.get_subcommands().front()->get_name();
  if (group.size() > 1 && command != "teacher" && command != "distill" && command != "bench") {
    // N copies would each do the whole job and write the same files.
    if (group.rank() == 0)
      std::fprintf(stderr,
                   "onestep: error: onestep %s runs as one process; only teacher, distill and "
                   "bench run data parallel: launch it without mpirun\n",
                   command.c_str());
    session->abort_all(2);
    return 2;
  }
  if (group.size() > 1) {
    if (group.rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) return 1;
    fmt::print("data parallel: {} ranks over {}\n", group.size(), group.transport());
  }
  int code = 1;
  try {
    code = commands.at(command)();
  } catch (const onestep::app::UsageError& e) {
    std::fprintf(stderr, "onestep: %s\nRun with --help for more information.\n", e.what());
    code = 2;
  } catch (const onestep::Error& e) {
    std::fprintf(stderr, "%s: %s\n", error_prefix().c_str(), e.what());
  } catch (const std::exception& e) {
    // Anything else (out of memory, a filesystem error) is still one line, never a crash.
    std::fprintf(stderr, "%s: %s\n", error_prefix().c_str(), e.what());
  }
  // A rank that stops with an error ends every rank: none may wait for it forever.
  if (code != 0 && (code < 128 || code > 128 + 64)) {
    std::fflush(stderr);
    std::fflush(stdout);
    session->abort_all(code);
  }
  return code;
}
