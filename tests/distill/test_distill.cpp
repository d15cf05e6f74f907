// Distillation end to end, tiny: every method runs a few iterations with finite losses and moves
// the generator; the image path (SongUNet, discriminator on its encoder bottleneck) runs; a
// resumed run continues bit-exactly.

#include <gtest/gtest.h>

#include <filesystem>

#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/run.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/distill/distill.h"
#include "onestep/nn/safetensors.h"
#include "testing/gradcheck.h"
#include "testing/temp_dir.h"

namespace onestep::distill {
namespace {

namespace fs = std::filesystem;
using diffusion::StopSignal;

std::string fresh_dir(const std::string& name) {
  return testing::fresh_temp_dir("distill_" + name);
}

// A small toy teacher, trained once for all tests.
const std::string& toy_teacher() {
  static const std::string path = [] {
    diffusion::TeacherOptions o = diffusion::teacher_preset("toy");
    o.model.mlp.hidden = 16;
    o.model.mlp.num_blocks = 1;
    o.batch = 64;
    o.total_images = 64 * 20;
    o.preview_samples = 0;
    o.out = fresh_dir("toy_teacher");
    StopSignal::clear();
    diffusion::train_teacher(o, false);
    return o.out + "/teacher.safetensors";
  }();
  return path;
}

DistillOptions tiny(const std::string& method, const std::string& out) {
  DistillOptions o = distill_preset("toy");
  o.teacher = toy_teacher();
  o.method = method;
  o.batch = 32;
  o.total_images = 32 * 6;
  o.generator_warmup_images = 32;
  o.sim_only_images = 64;
  o.lr_generator = o.lr_fake = 1e-3;
  o.regression_pairs = 16;
  o.regression_steps = 3;
  o.log_every_images = 64;
  o.preview_samples = 0;
  o.out = out;
  return o;
}

double weight_change(const std::string& generator_path, const std::string& teacher_path) {
  const auto a = nn::load_safetensors(generator_path), b = nn::load_safetensors(teacher_path);
  double change = 0;
  for (const auto& [name, t] : a.tensors) change += testing::max_abs_diff(t, b.at(name));
  return change;
}

TEST(Distill, EveryMethodRunsWithFiniteLossesAndMovesTheGenerator) {
  StopSignal::clear();
  for (const std::string& method : method_names()) {
    const std::string out = fresh_dir("method_" + method);
    const DistillResult r = distill(tiny(method, out), false);
    EXPECT_EQ(r.iterations, 6) << method;
    EXPECT_EQ(r.skipped_steps, 0) << method;
    EXPECT_TRUE(std::isfinite(r.last_generator_loss)) << method;
    EXPECT_TRUE(std::isfinite(r.last_fake_loss)) << method;
    EXPECT_GT(weight_change(out + "/generator.safetensors", toy_teacher()), 1e-6) << method;
    const auto config = diffusion::load_denoiser(out + "/generator.safetensors").config;
    EXPECT_DOUBLE_EQ(config.one_step_sigma, 2.5) << method;
  }
}

TEST(Distill, EveryDivergenceRunsInUniInstruct) {
  StopSignal::clear();
  for (const std::string& divergence : divergence_names()) {
    for (const char* ratio : {"discriminator", "closed-form"}) {
      DistillOptions o = tiny("uni-instruct", fresh_dir("div_" + divergence + ratio));
      o.method_options.divergence = divergence;
      o.method_options.ratio_gradient = ratio;
      o.method_options.normalise_ratio = true;
      const DistillResult r = distill(o, false);
      EXPECT_TRUE(std::isfinite(r.last_generator_loss)) << divergence << " " << ratio;
      EXPECT_EQ(r.skipped_steps, 0) << divergence << " " << ratio;
    }
  }
}

TEST(Distill, AResumedRunContinuesBitExactly) {
  StopSignal::clear();
  const std::string straight = fresh_dir("straight"), halves = fresh_dir("halves");
  distill(tiny("uni-instruct", straight), false);
  DistillOptions first = tiny("uni-instruct", halves);
  first.total_images = 32 * 3;
  distill(first, false);
  DistillOptions rest = read_distill_config(halves);
  rest.total_images = 32 * 6;
  distill(rest, true);
  for (const char* file : {"state.safetensors", "generator.safetensors"}) {
    const auto a = nn::load_safetensors(straight + "/" + file),
               b = nn::load_safetensors(halves + "/" + file);
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i)
      EXPECT_EQ(testing::max_abs_diff(a.tensors[i].second, b.tensors[i].second), 0.0)
          << file << " " << a.tensors[i].first;
  }
}

TEST(Distill, ImagesWithSongUNetAndTheEncoderDiscriminator) {
  StopSignal::clear();
  // Eight 8x8 gray PNGs as the dataset.
  const std::string images = fresh_dir("pngs");
  fs::create_directories(images);
  Generator gen(1);
  for (int i = 0; i < 8; ++i) {
    const auto pixels = rand({64}, gen).to_vector<float>();
    std::vector<uint8_t> bytes;
    for (float p : pixels) bytes.push_back(static_cast<uint8_t>(p * 255));
    diffusion::write_png(images + "/" + std::to_string(i) + ".png", bytes.data(), 8, 8, 1);
  }
  diffusion::TeacherOptions t = diffusion::teacher_preset("fmnist-cpu");
  t.data = "png:" + images;
  t.model.unet.model_channels = 8;
  t.model.unet.channel_mult = {1, 2};
  t.model.unet.attn_resolutions = {4};
  t.batch = 4;
  t.total_images = 8;
  t.preview_samples = 0;
  t.out = fresh_dir("image_teacher");
  diffusion::train_teacher(t, false);

  DistillOptions o = tiny("uni-instruct", fresh_dir("image_student"));
  o.teacher = t.out + "/teacher.safetensors";
  o.batch = 4;
  o.total_images = 12;
  o.generator_warmup_images = 0;
  o.sim_only_images = 4;
  o.preview_samples = 4;
  const DistillResult r = distill(o, false);
  EXPECT_EQ(r.iterations, 3);
  EXPECT_EQ(r.skipped_steps, 0);
  EXPECT_TRUE(std::isfinite(r.last_generator_loss));
  EXPECT_TRUE(diffusion::file_exists(o.out + "/samples.png"));
  EXPECT_GT(weight_change(o.out + "/generator.safetensors", o.teacher), 1e-7);
}

TEST(Distill, BadSettingsAreRefused) {
  StopSignal::clear();
  DistillOptions o = tiny("uni-instruct", fresh_dir("bad"));
  o.method = "gan";
  EXPECT_THROW(distill(o, false), Error);
  o = tiny("uni-instruct", fresh_dir("bad2"));
  o.method_options.divergence = "tv";
  EXPECT_THROW(distill(o, false), Error);
  o = tiny("uni-instruct", fresh_dir("bad3"));
  o.teacher = fresh_dir("nowhere") + "/teacher.safetensors";
  EXPECT_THROW(distill(o, false), Error);
  // A one-step generator is not a teacher.
  const std::string first = fresh_dir("first");
  distill(tiny("sid", first), false);
  o = tiny("sid", fresh_dir("second"));
  o.teacher = first + "/generator.safetensors";
  EXPECT_THROW(distill(o, false), Error);
}

}  // namespace
}  // namespace onestep::distill
