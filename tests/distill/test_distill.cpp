// Distillation end to end, tiny: every method runs a few iterations with finite losses and moves
// the generator; the image path (SongUNet, discriminator on its encoder bottleneck) runs; a
// resumed run continues bit-exactly.

#include <gtest/gtest.h>

#include <filesystem>

#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/distill/distill.h"
#include "onestep/nn/atomic_file.h"
#include "onestep/nn/safetensors.h"
#include "onestep/run/run.h"
#include "testing/gradcheck.h"
#include "testing/temp_dir.h"
#include "testing/training_checks.h"

namespace onestep::distill {
namespace {

namespace fs = std::filesystem;
using run::StopSignal;

std::string fresh_dir(const std::string& name) {
  return testing::fresh_temp_dir("distill_" + name);
}

// A small toy teacher, trained once for all tests.
const std::string& toy_teacher() {
  static const std::string path = [] {
    diffusion::TeacherOptions o = diffusion::teacher_preset("toy");
    diffusion::teacher_option_table().apply_settings(
        "hidden=16 blocks=1 batch=64 total_images=1280 preview_samples=0", o);
    o.out = fresh_dir("toy_teacher");
    StopSignal::clear();
    diffusion::train_teacher(o, false);
    return o.out + "/teacher.safetensors";
  }();
  return path;
}

DistillOptions tiny(const std::string& method, const std::string& out) {
  DistillOptions o = distill_preset("toy", method);
  // The loop's mechanics with each method's own defaults, not uni-instruct's toy recipe.
  o.method_options = MethodOptions{};
  distill_option_table().apply_settings(
      "batch=32 total_images=192 generator_warmup_images=32 sim_only_images=64 lr=1e-3 "
      "regression_pairs=16 regression_steps=3 log_every_images=64 preview_samples=0",
      o);
  o.teacher = toy_teacher();
  o.out = out;
  return o;
}

double weight_change(const std::string& generator_path, const std::string& teacher_path) {
  const auto a = nn::load_safetensors(generator_path), b = nn::load_safetensors(teacher_path);
  double change = 0;
  for (const auto& [name, t] : a.tensors) change += testing::max_abs_diff(t, b.at(name));
  return change;
}

// The two runs' checkpoints and generators hold bit-identical tensors.
void expect_same_networks(const std::string& run_a, const std::string& run_b) {
  for (const char* file : {"state.safetensors", "generator.safetensors"}) {
    const auto a = nn::load_safetensors(run_a + "/" + file),
               b = nn::load_safetensors(run_b + "/" + file);
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i)
      EXPECT_EQ(testing::max_abs_diff(a.tensors[i].second, b.tensors[i].second), 0.0)
          << file << " " << a.tensors[i].first;
  }
}

TEST(Distill, EveryMethodRunsWithFiniteLossesAndMovesTheGenerator) {
  StopSignal::clear();
  for (const std::string& method : method_names()) {
    const std::string out = fresh_dir("method_" + method);
    const DistillResult r = distill(tiny(method, out), false);
    EXPECT_EQ(r.steps, 6) << method;
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
    for (const auto& [ratio_gradient, ratio] : ratio_gradient_names()) {
      DistillOptions o = tiny("uni-instruct", fresh_dir("div_" + divergence + ratio));
      o.method_options.divergence = divergence;
      o.method_options.ratio_gradient = ratio_gradient;
      o.method_options.normalise_ratio = true;
      const DistillResult r = distill(o, false);
      EXPECT_TRUE(std::isfinite(r.last_generator_loss)) << divergence << " " << ratio;
      EXPECT_EQ(r.skipped_steps, 0) << divergence << " " << ratio;
    }
  }
}

TEST(Distill, AResumedRunContinuesBitExactly) {
  StopSignal::clear();
  std::string mean_run;
  for (const char* head : {"mean", "learned"}) {
    const std::string straight = fresh_dir(std::string("straight_") + head),
                      halves = fresh_dir(std::string("halves_") + head);
    DistillOptions whole = tiny("uni-instruct", straight);
    distill_option_table().apply_settings(std::string("discriminator_head=") + head, whole);
    if (std::string(head) == "learned") whole.lr_discriminator_head = 5e-3;  // its own Adam
    distill(whole, false);
    DistillOptions first = whole;
    first.out = halves;
    first.total_images = 32 * 3;
    distill(first, false);
    DistillOptions rest = read_distill_config(halves);
    EXPECT_EQ(rest.discriminator_head, whole.discriminator_head);
    EXPECT_EQ(rest.lr_discriminator_head, whole.lr_discriminator_head);
    rest.total_images = 32 * 6;
    distill(rest, true);
    expect_same_networks(straight, halves);
    if (std::string(head) == "mean") mean_run = halves;
  }
  // The learned head is part of the state: a checkpoint without one cannot resume with one.
  DistillOptions switched = read_distill_config(mean_run);
  switched.discriminator_head = DiscriminatorLogit::learned;
  switched.total_images = 32 * 8;
  try {
    distill(switched, true);
    FAIL() << "resumed a mean-head state with a learned head";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("saved without a learned discriminator head"),
              std::string::npos)
        << e.what();
  }
}

// The images of the metrics.jsonl lines that hold `key`.
std::vector<int64_t> images_of_lines_with(const std::string& run, const std::string& key) {
  const std::vector<uint8_t> bytes = nn::read_file(run + "/metrics.jsonl");
  std::vector<int64_t> images;
  std::string line;
  for (const uint8_t byte : bytes) {
    if (byte != '\n') {
      line.push_back(static_cast<char>(byte));
      continue;
    }
    const size_t at = line.find("\"images\": ");
    if (line.find("\"" + key + "\"") != std::string::npos && at != std::string::npos)
      images.push_back(std::strtoll(line.c_str() + at + 10, nullptr, 10));
    line.clear();
  }
  return images;
}

// What `onestep bench` times is the loop users run: DistillTraining, stepped to the same image
// count, trains the generator distill() saves in its state, bit for bit.
TEST(Distill, DistillTrainingStepsTheSameLoopAsDistill) {
  const DistillOptions o = tiny("uni-instruct", fresh_dir("training_same_loop"));
  StopSignal::clear();
  distill(o, false);
  DistillTraining training(o);
  testing::expect_stepping_reproduces(training, o.total_images, training.generator(),
                                      nn::load_safetensors(o.out + "/state.safetensors"),
                                      "generator.");
}

TEST(Distill, DistillTrainingWithoutDataRefusesAMethodThatNeedsIt) {
  const DistillOptions o = tiny("uni-instruct", fresh_dir("training_no_data"));
  try {
    DistillTraining training(o, diffusion::load_denoiser(o.teacher), nullptr);
    FAIL() << "a discriminator without real data was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs real data"), std::string::npos) << e.what();
  }
}

TEST(Distill, EvalEveryScoresTheGeneratorWithoutChangingTheRun) {
  StopSignal::clear();
  const std::string plain = fresh_dir("eval_plain"), scored = fresh_dir("eval_scored");
  distill(tiny("dmd", plain), false);
  DistillOptions o = tiny("dmd", scored);
  o.eval_every_images = 64;
  o.eval_samples = 200;
  o.total_images = 32 * 3;
  distill(o, false);
  // At the start, every 64 images and at the end.
  EXPECT_EQ(images_of_lines_with(scored, "eval_swd"), (std::vector<int64_t>{0, 64, 96}));
  DistillOptions rest = read_distill_config(scored);
  EXPECT_EQ(rest.eval_every_images, 64);
  rest.total_images = 32 * 6;
  distill(rest, true);
  EXPECT_EQ(images_of_lines_with(scored, "eval_swd"), (std::vector<int64_t>{0, 64, 96, 128, 192}));
  EXPECT_EQ(images_of_lines_with(scored, "eval_high_quality").size(), 5u);
  // The scores draw on their own random streams: the networks are those of the unscored run.
  expect_same_networks(plain, scored);
}

// Configs written before the regression term applied to every method stored DMD's weight with
// every method: only a dmd run keeps it on resume.
TEST(Distill, OldConfigsKeepTheirRegressionTerm) {
  const auto config = [](const std::string& method) {
    return fmt::format(
        R"({{"teacher": "t.safetensors", "method": "{}", "regression_weight": 0.4}})", method);
  };
  EXPECT_DOUBLE_EQ(DistillOptions::from_json(config("dmd")).method_options.regression_weight, 0.4);
  EXPECT_LT(DistillOptions::from_json(config("uni-instruct")).method_options.regression_weight, 0);
  DistillOptions o = tiny("uni-instruct", "x");
  o.method_options.regression_weight = 0.3;
  EXPECT_DOUBLE_EQ(DistillOptions::from_json(o.to_json()).method_options.regression_weight, 0.3);
}

TEST(Distill, ImagesWithSongUNetAndTheEncoderDiscriminator) {
  StopSignal::clear();
  // Eight 8x8 gray PNGs as the dataset.
  const std::string images = fresh_dir("pngs");
  fs::create_directories(images);
  Rng gen(1);
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

  for (const char* head : {"mean", "learned"}) {
    DistillOptions o = tiny("uni-instruct", fresh_dir(std::string("image_student_") + head));
    o.teacher = t.out + "/teacher.safetensors";
    distill_option_table().apply_settings(std::string("discriminator_head=") + head, o);
    o.batch = 4;
    o.total_images = 12;
    o.generator_warmup_images = 0;
    o.sim_only_images = 4;
    o.preview_samples = 4;
    const DistillResult r = distill(o, false);
    EXPECT_EQ(r.steps, 3) << head;
    EXPECT_EQ(r.skipped_steps, 0) << head;
    EXPECT_TRUE(std::isfinite(r.last_generator_loss)) << head;
    EXPECT_TRUE(run::file_exists(o.out + "/samples.png")) << head;
    EXPECT_GT(weight_change(o.out + "/generator.safetensors", o.teacher), 1e-7) << head;
    const auto state = nn::load_safetensors(o.out + "/state.safetensors");
    bool has_head = false;
    for (const auto& [name, tensor] : state.tensors)
      has_head = has_head || name.rfind("discriminator_head.", 0) == 0;
    EXPECT_EQ(has_head, std::string(head) == "learned");
  }
}

TEST(Distill, TheCpuPresetsGiveUniInstructItsRecipeAndOtherMethodsTheirDefaults) {
  const DistillOptions fmnist = distill_preset("fmnist-cpu");
  EXPECT_EQ(fmnist.method, MethodKind::uni_instruct);
  EXPECT_EQ(fmnist.method_options.divergence, "js");
  EXPECT_EQ(fmnist.method_options.gan_weight, 30);
  EXPECT_EQ(fmnist.method_options.regression_weight, 0.25);
  EXPECT_EQ(fmnist.discriminator_head, DiscriminatorLogit::learned);
  EXPECT_EQ(fmnist.lr_discriminator_head, 2e-3);
  EXPECT_EQ(fmnist.lr_generator, 2e-4);
  EXPECT_EQ(fmnist.total_images, 44800);
  const Method recipe = make_method(fmnist.method, fmnist.method_options);
  EXPECT_EQ(recipe.divergence.name(), "js");
  EXPECT_EQ(recipe.gan_weight, 30);

  const DistillOptions toy = distill_preset("toy");
  EXPECT_EQ(toy.method_options.gan_weight, 3);
  EXPECT_EQ(toy.method_options.regression_weight, 1);
  EXPECT_EQ(toy.lr_fake, 2e-3);
  EXPECT_EQ(toy.discriminator_head, DiscriminatorLogit::mean);

  // Another method keeps the preset's general settings and its own defaults.
  const DistillOptions sida = distill_preset("fmnist-cpu", "sida");
  EXPECT_EQ(sida.method, MethodKind::sida);
  EXPECT_EQ(sida.discriminator_head, DiscriminatorLogit::mean);
  EXPECT_EQ(sida.lr_generator, 1e-4);
  EXPECT_EQ(sida.total_images, 12800);
  EXPECT_EQ(make_method(sida.method, sida.method_options).gan_weight, 0.01);
  // The GPU presets keep the official settings for uni-instruct too.
  const DistillOptions cifar = distill_preset("cifar10");
  EXPECT_EQ(make_method(cifar.method, cifar.method_options).divergence.name(), "jeffreys");
  EXPECT_EQ(cifar.lr_generator, 1e-5);
  // A preset's recipe survives the round trip through config.json.
  const DistillOptions back = DistillOptions::from_json(fmnist.to_json());
  EXPECT_EQ(back.method_options.gan_weight, 30);
  EXPECT_EQ(back.discriminator_head, DiscriminatorLogit::learned);
}

TEST(Distill, BadSettingsAreRefused) {
  StopSignal::clear();
  DistillOptions o = tiny("uni-instruct", fresh_dir("bad"));
  o.method = static_cast<MethodKind>(99);  // no such method
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
