// Teacher training: TeacherTraining steps as train_teacher does, a resumed run continues
// bit-exactly, a run directory is not overwritten, options round-trip through config.json, and
// every preset is valid.

#include <gtest/gtest.h>

#include "onestep/diffusion/teacher.h"
#include "onestep/nn/safetensors.h"
#include "onestep/run/run.h"
#include "testing/gradcheck.h"
#include "testing/temp_dir.h"
#include "testing/training_checks.h"

namespace onestep::diffusion {

using run::file_exists;
using run::StopSignal;
namespace {

std::string fresh_dir(const std::string& name) {
  return testing::fresh_temp_dir("teacher_" + name);
}

// The toy preset made small: 8 steps of 32 points through a 16-wide MLP.
TeacherOptions tiny_options(const std::string& out) {
  TeacherOptions o = teacher_preset("toy");
  teacher_option_table().apply_settings(
      "hidden=16 blocks=1 batch=32 total_images=256 lr_warmup_images=64 ema_halflife_images=100 "
      "log_every_images=64 preview_samples=0",
      o);
  o.out = out;
  return o;
}

void expect_identical_checkpoints(const std::string& a, const std::string& b,
                                  const std::string& file) {
  const nn::SafetensorsContent x = nn::load_safetensors(a + "/" + file);
  const nn::SafetensorsContent y = nn::load_safetensors(b + "/" + file);
  ASSERT_EQ(x.tensors.size(), y.tensors.size());
  for (size_t i = 0; i < x.tensors.size(); ++i) {
    EXPECT_EQ(x.tensors[i].first, y.tensors[i].first);
    EXPECT_EQ(testing::max_abs_diff(x.tensors[i].second, y.tensors[i].second), 0.0)
        << x.tensors[i].first;
  }
}

// What `onestep bench` times is the step users run: TeacherTraining, stepped to the same image
// count, trains the network train_teacher() saves in its state, bit for bit.
TEST(Teacher, TeacherTrainingStepsTheSameLoopAsTrainTeacher) {
  StopSignal::clear();
  const TeacherOptions o = tiny_options(fresh_dir("training_same_loop"));
  train_teacher(o, false);
  TeacherTraining training(o);
  testing::expect_stepping_reproduces(training, o.total_images, training.network(),
                                      nn::load_safetensors(o.out + "/state.safetensors"), "net.");
}

TEST(Teacher, AResumedRunContinuesBitExactly) {
  StopSignal::clear();
  const std::string straight = fresh_dir("straight"), halves = fresh_dir("halves");
  const TeacherResult full = train_teacher(tiny_options(straight), false);
  EXPECT_EQ(full.steps, 8);
  EXPECT_EQ(full.images, 256);

  TeacherOptions first_half = tiny_options(halves);
  first_half.total_images = 32 * 3;  // stops mid-warm-up, mid-log-interval
  train_teacher(first_half, false);
  TeacherOptions rest = read_teacher_config(halves);
  rest.total_images = 32 * 8;
  const TeacherResult resumed = train_teacher(rest, true);
  EXPECT_EQ(resumed.steps, 8);
  EXPECT_EQ(resumed.images, 256);

  expect_identical_checkpoints(straight, halves, "state.safetensors");
  expect_identical_checkpoints(straight, halves, "teacher.safetensors");
}

TEST(Teacher, SettingsThatCannotWorkAreRefusedBeforeTraining) {
  StopSignal::clear();
  TeacherOptions cond = tiny_options(fresh_dir("cond"));
  cond.cond = true;  // the swiss roll has no labels
  cond.data = "toy:swissroll";
  EXPECT_THROW(train_teacher(cond, false), Error);
  TeacherOptions arch = tiny_options(fresh_dir("arch"));
  arch.model.arch = NetworkArch::songunet;  // 2-D data needs the MLP
  EXPECT_THROW(train_teacher(arch, false), Error);
}

TEST(Teacher, AnExistingRunIsNotOverwritten) {
  StopSignal::clear();
  const std::string dir = fresh_dir("existing");
  train_teacher(tiny_options(dir), false);
  try {
    train_teacher(tiny_options(dir), false);
    FAIL() << "expected an error";
  } catch (const run::RunDirectoryInUse& e) {
    EXPECT_NE(std::string(e.what()).find("already holds a run"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_teacher(tiny_options(fresh_dir("nothing")), true),
               Error);  // nothing to resume
}

TEST(Teacher, AStopRequestCheckpointsAndTheRunResumes) {
  const std::string dir = fresh_dir("stopped");
  StopSignal::request(2);  // as if SIGINT arrived before the first step
  const TeacherResult stopped = train_teacher(tiny_options(dir), false);
  EXPECT_EQ(stopped.stop_signal, 2);
  EXPECT_EQ(stopped.steps, 0);
  EXPECT_TRUE(file_exists(dir + "/state.safetensors"));
  EXPECT_TRUE(file_exists(dir + "/teacher.safetensors"));
  StopSignal::clear();
  const TeacherResult resumed = train_teacher(read_teacher_config(dir), true);
  EXPECT_EQ(resumed.stop_signal, 0);
  EXPECT_EQ(resumed.steps, 8);
}

TEST(Teacher, OptionsRoundTripThroughJson) {
  for (const std::string& name : teacher_preset_names()) {
    const TeacherOptions o = teacher_preset(name);
    EXPECT_NO_THROW(o.validate()) << name;
    const TeacherOptions back = TeacherOptions::from_json(o.to_json());
    EXPECT_EQ(back.to_json(), o.to_json()) << name;
  }
  EXPECT_THROW(teacher_preset("imagenet"), Error);
  EXPECT_THROW(TeacherOptions::from_json("{\"data\": 3}"), Error);
  TeacherOptions bad = teacher_preset("toy");
  bad.batch = 0;
  EXPECT_THROW(bad.validate(), Error);
}

TEST(Teacher, TheCifarPresetIsEdmsDdppmConfiguration) {
  const TeacherOptions o = teacher_preset("cifar10");
  EXPECT_EQ(o.model.unet.model_channels, 128);
  EXPECT_EQ(o.model.unet.channel_mult, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(o.model.unet.num_blocks, 4);
  EXPECT_EQ(o.model.unet.attn_resolutions, (std::vector<int64_t>{16}));
  EXPECT_DOUBLE_EQ(o.model.unet.dropout, 0.13);
  const TeacherOptions f = teacher_preset("fmnist");
  EXPECT_EQ(f.model.unet.model_channels, 64);
  EXPECT_EQ(f.model.unet.channel_mult, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(f.model.unet.num_blocks, 2);
  EXPECT_EQ(f.model.unet.attn_resolutions, (std::vector<int64_t>{8}));
}

}  // namespace
}  // namespace onestep::diffusion
