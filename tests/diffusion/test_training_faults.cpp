// Training under faults: non-finite steps are skipped, counted and logged; too many in a row stop
// the run with the networks of the last good step saved; a process killed in the middle of a
// checkpoint write leaves the previous checkpoint loadable; a full disk (a file-size limit)
// gives a clear error and keeps the last checkpoint; a corrupt checkpoint is refused with a
// clear error. (tests/apps/faults_test.sh does the same through the command, with kill -9.)

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "onestep/diffusion/model_config.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/nn/atomic_file.h"
#include "onestep/nn/safetensors.h"
#include "onestep/run/run.h"
#include "testing/gradcheck.h"
#include "testing/temp_dir.h"

namespace onestep::diffusion {

using run::StopSignal;
using run::truncate_metrics;
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  return testing::fresh_temp_dir("faults_" + name);
}

// The toy preset made small: `steps` steps of 32 points through a 16-wide MLP, logged every two.
TeacherOptions tiny_options(const std::string& out, int64_t steps) {
  TeacherOptions o = teacher_preset("toy");
  teacher_option_table().apply_settings(
      "hidden=16 blocks=1 batch=32 lr_warmup_images=64 ema_halflife_images=100 "
      "log_every_images=64 preview_samples=0",
      o);
  o.total_images = 32 * steps;
  o.out = out;
  return o;
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The library names settings as the options' keys (max_consecutive_skips), never as the
// command's flags: someone embedding it has no flags.
void expect_contains(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& part : parts) EXPECT_NE(text.find(part), std::string::npos) << text;
  EXPECT_EQ(text.find("--"), std::string::npos) << "names a flag: " << text;
}

// The tensors of two safetensors files whose names start with `prefix`, compared bit for bit.
void expect_same_tensors(const std::string& a, const std::string& b, const std::string& prefix) {
  const nn::SafetensorsContent x = nn::load_safetensors(a), y = nn::load_safetensors(b);
  int compared = 0;
  for (const auto& [name, t] : x.tensors) {
    if (name.rfind(prefix, 0) != 0) continue;
    EXPECT_EQ(testing::max_abs_diff(t, y.at(name)), 0.0) << name;
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

TEST(TrainingFaults, NonFiniteStepsAreSkippedCountedAndLogged) {
  StopSignal::clear();
  const std::string dir = fresh_dir("skips");
  TeacherOptions o = tiny_options(dir, 8);
  o.inject_nan.loss_steps = {3};
  o.inject_nan.grad_steps = {5};
  const TeacherResult r = train_teacher(o, false);
  EXPECT_EQ(r.steps, 8);
  EXPECT_EQ(r.skipped_steps, 2);
  EXPECT_TRUE(std::isfinite(r.last_loss));
  expect_contains(last_line(dir + "/metrics.jsonl"), {"\"step\": 8", "\"skipped_steps\": 2"});
  const LoadedDenoiser teacher = load_denoiser(dir + "/teacher.safetensors");
  for (const auto& [name, p] : teacher.net->named_parameters())
    EXPECT_TRUE(std::isfinite(sum(p).item())) << name;
}

TEST(TrainingFaults, TooManySkipsInARowStopWithTheLastGoodNetworksSaved) {
  StopSignal::clear();
  const std::string dir = fresh_dir("stop"), good = fresh_dir("good");
  TeacherOptions o = tiny_options(dir, 10);
  o.max_consecutive_skips = 3;
  o.inject_nan.loss_steps = {4, 5};
  o.inject_nan.grad_steps = {6};
  const std::string message = error_of([&] { train_teacher(o, false); });
  expect_contains(message, {"steps 4-6 (3 in a row)", "max_consecutive_skips",
                            "last good step (3) are saved in " + dir});
  expect_contains(last_line(dir + "/metrics.jsonl"), {"\"step\": 6", "\"skipped_steps\": 3"});
  // The saved networks are those after step 3: the same as a run of 3 steps.
  train_teacher(tiny_options(good, 3), false);
  expect_same_tensors(dir + "/state.safetensors", good + "/state.safetensors", "net.");
  expect_same_tensors(dir + "/state.safetensors", good + "/state.safetensors", "adam.");
  expect_same_tensors(dir + "/teacher.safetensors", good + "/teacher.safetensors", "model.");
  // The run resumes from there (one more skip would stop it again: 3 in a row are on record).
  TeacherOptions rest = read_teacher_config(dir);
  const TeacherResult resumed = train_teacher(rest, true);
  EXPECT_EQ(resumed.steps, 10);
  EXPECT_EQ(resumed.skipped_steps, 3);
}

// A tiny teacher run of two steps in a fresh folder `name`: the folder, its state.safetensors and
// that checkpoint's bytes.
struct CheckpointedRun {
  std::string dir, state;
  std::vector<uint8_t> state_bytes;
};
CheckpointedRun checkpointed_run(const std::string& name) {
  StopSignal::clear();
  const std::string dir = fresh_dir(name);
  train_teacher(tiny_options(dir, 2), false);
  const std::string state = dir + "/state.safetensors";
  return {dir, state, nn::read_file(state)};
}

TEST(TrainingFaults, AProcessKilledWhileWritingACheckpointLeavesThePreviousOne) {
  // The default "fast" death-test style forks at EXPECT_EXIT, so the child writes the parent's
  // file ("threadsafe" would re-run the test in a fresh process, in another directory).
  const CheckpointedRun run = checkpointed_run("killed");
  // kill -9 half-way through rewriting the checkpoint, as a crash or an OOM kill would.
  EXPECT_EXIT(
      {
        nn::write_file_atomically(run.state, [&](const nn::WriteChunk& write) {
          write(run.state_bytes.data(), run.state_bytes.size() / 2);
          std::raise(SIGKILL);
        });
      },
      ::testing::KilledBySignal(SIGKILL), "");
  EXPECT_EQ(nn::read_file(run.state), run.state_bytes);
  EXPECT_NO_THROW(nn::load_safetensors(run.state));
  // The dead writer's temp file is left behind, and the next run removes it.
  int temps = 0;
  for (const auto& entry : fs::directory_iterator(run.dir))
    temps += entry.path().filename().string().find(".tmp.") != std::string::npos;
  EXPECT_EQ(temps, 1);
  TeacherOptions rest = read_teacher_config(run.dir);
  rest.total_images = 32 * 4;
  EXPECT_EQ(train_teacher(rest, true).steps, 4);
  for (const auto& entry : fs::directory_iterator(run.dir))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(TrainingFaults, AFullDiskGivesAClearErrorAndKeepsTheLastCheckpoint) {
  const auto [dir, state, before] = checkpointed_run("full");

  // RLIMIT_FSIZE stands in for a full disk without privileges: writes past it fail with EFBIG
  // (SIGXFSZ ignored, as the onestep command does).
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < before.size()) GTEST_SKIP();
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = before.size() / 2;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  TeacherOptions rest = read_teacher_config(dir);
  rest.total_images = 32 * 4;
  const std::string message = error_of([&] { train_teacher(rest, true); });
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);

  expect_contains(message, {"cannot write", "state.safetensors", "File too large"});
  EXPECT_EQ(nn::read_file(state), before);
  EXPECT_EQ(train_teacher(rest, true).steps, 4);  // and with room again, the run goes on
}

TEST(TrainingFaults, ACorruptCheckpointIsRefusedWithAClearError) {
  const auto [dir, state, good_state] = checkpointed_run("corrupt");
  const std::string model = dir + "/teacher.safetensors";
  const std::vector<uint8_t> good_model = nn::read_file(model);
  TeacherOptions rest = read_teacher_config(dir);
  rest.total_images = 32 * 4;

  // One flipped bit in the weights: only the checksum can tell.
  std::vector<uint8_t> flipped = good_state;
  flipped[flipped.size() - 5] ^= 0x10;
  nn::write_file_atomically(state, flipped.data(), flipped.size());
  expect_contains(error_of([&] { train_teacher(rest, true); }),
                  {"state.safetensors", "checksum mismatch", "corrupt"});
  nn::write_file_atomically(state, good_state.data(), good_state.size() - 100);
  expect_contains(error_of([&] { train_teacher(rest, true); }), {"state.safetensors", "truncated"});

  flipped = good_model;
  flipped[flipped.size() / 2] ^= 0x01;
  nn::write_file_atomically(model, flipped.data(), flipped.size());
  expect_contains(error_of([&] { load_denoiser(model); }), {"teacher.safetensors"});
  nn::write_file_atomically(model, good_model.data(), 7);
  expect_contains(error_of([&] { load_denoiser(model); }), {"teacher.safetensors", "truncated"});

  nn::write_file_atomically(state, good_state.data(), good_state.size());
  EXPECT_EQ(train_teacher(rest, true).steps, 4);
}

TEST(TrainingFaults, TornMetricsLinesAreDroppedOnResume) {
  const std::string dir = fresh_dir("metrics");
  fs::create_directories(dir);
  const std::string path = dir + "/metrics.jsonl";
  const std::string text =
      "{\"step\": 1, \"images\": 32}\n{\"step\": 2, \"images\": 64}\n{\"step\": 3, \"ima";
  nn::write_file_atomically(path, text.data(), text.size());
  truncate_metrics(path, 64);
  const std::vector<uint8_t> kept = nn::read_file(path);
  EXPECT_EQ(std::string(kept.begin(), kept.end()),
            "{\"step\": 1, \"images\": 32}\n{\"step\": 2, \"images\": 64}\n");
}

TEST(TrainingFaults, BadFlagsAreRefusedBeforeAnyWork) {
  const std::string dir = fresh_dir("flags");
  TeacherOptions o = tiny_options(dir, 2);
  o.max_consecutive_skips = 0;
  expect_contains(error_of([&] { check_teacher_options(o, false); }),
                  {"max_consecutive_skips must be in [1, 1000000000], got 0"});
  o = tiny_options(dir, 2);
  o.inject_nan.loss_steps = {0};
  expect_contains(error_of([&] { check_teacher_options(o, false); }), {"start at 1"});
  o = tiny_options(dir, 2);
  o.data = "png:/nonexistent/pngs";
  expect_contains(error_of([&] { check_teacher_options(o, false); }), {"/nonexistent/pngs"});
  o = tiny_options(dir, 2);
  o.cond = true;
  expect_contains(error_of([&] { check_teacher_options(o, false); }), {"cond needs labelled data"});
  expect_contains(error_of([&] { check_teacher_options(tiny_options(dir, 2), true); }),
                  {"no run to resume"});
  EXPECT_FALSE(fs::exists(dir));  // nothing was created
}

}  // namespace
}  // namespace onestep::diffusion
