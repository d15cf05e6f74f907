// Training on device cuda, end to end: a toy teacher and a uni-instruct distillation of it, each
// run for several steps on the GPU and on the CPU from the same seed, must end where the CPU run
// ends. The two backends sum in different orders (the GPU's f32 reductions accumulate in f64,
// cuBLAS blocks its GEMMs its own way), so the runs agree to rounding, not to the bit. On the CUDA
// emulator the parameters ended 4.8e-8 apart (relative to the largest); the bound of 1e-5 leaves
// room for a real GPU's different summation orders, and a device mix-up or a wrong kernel is
// orders of magnitude above it.

#include <gtest/gtest.h>

#include <cmath>

#include "../engine/cuda/cuda_test_util.h"
#include "onestep/run/run.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/distill/distill.h"
#include "onestep/nn/safetensors.h"
#include "testing/gradcheck.h"
#include "testing/temp_dir.h"

namespace onestep {
namespace {

// Largest |a - b| over every tensor of two checkpoint files, relative to the largest |b|.
double relative_difference(const std::string& a_path, const std::string& b_path) {
  const nn::SafetensorsContent a = nn::load_safetensors(a_path), b = nn::load_safetensors(b_path);
  EXPECT_EQ(a.tensors.size(), b.tensors.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.tensors.size() && i < b.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    diff = std::max(diff, testing::max_abs_diff(a.tensors[i].second, b.tensors[i].second));
    scale = std::max(scale, amax(abs(b.tensors[i].second.to(DType::f64))).item());
  }
  return diff / std::max(scale, 1e-30);
}

diffusion::TeacherOptions toy_teacher(const std::string& device) {
  diffusion::TeacherOptions o = diffusion::teacher_preset("toy");
  diffusion::teacher_option_table().apply_settings(
      "hidden=32 blocks=2 batch=64 total_images=768 lr_warmup_images=128 log_every_images=256 "
      "preview_samples=0 seed=7",
      o);
  o.device = parse_device(device);
  o.out = testing::fresh_temp_dir("cuda_training_teacher_" + device.substr(0, 4));
  return o;
}

TEST(CudaTraining, AToyTeacherEndsWhereTheCpuRunOfTheSameSeedEnds) {
  ONESTEP_REQUIRE_CUDA();
  run::StopSignal::clear();
  const diffusion::TeacherOptions gpu = toy_teacher("cuda"), cpu = toy_teacher("cpu");
  const diffusion::TeacherResult on_gpu = diffusion::train_teacher(gpu, false);
  const diffusion::TeacherResult on_cpu = diffusion::train_teacher(cpu, false);
  EXPECT_EQ(on_gpu.steps, 12);
  EXPECT_EQ(on_gpu.skipped_steps, 0);
  EXPECT_TRUE(std::isfinite(on_gpu.last_loss));
  const double params = relative_difference(gpu.out + "/teacher.safetensors",
                                            cpu.out + "/teacher.safetensors");
  RecordProperty("teacher_relative_difference", fmt::format("{:.3g}", params));
  EXPECT_LT(params, 1e-5);
  EXPECT_NEAR(on_gpu.last_loss, on_cpu.last_loss, 1e-4 * std::abs(on_cpu.last_loss));
}

TEST(CudaTraining, AToyDistillationEndsWhereTheCpuRunOfTheSameSeedEnds) {
  ONESTEP_REQUIRE_CUDA();
  run::StopSignal::clear();
  diffusion::TeacherOptions teacher = toy_teacher("cpu");
  teacher.out = testing::fresh_temp_dir("cuda_training_distill_teacher");
  diffusion::train_teacher(teacher, false);
  auto options = [&](const std::string& device) {
    distill::DistillOptions o = distill::distill_preset("toy", "uni-instruct");
    distill::distill_option_table().apply_settings(
        "batch=64 total_images=384 generator_warmup_images=64 log_every_images=128 "
        "preview_samples=0 seed=11",
        o);
    o.teacher = teacher.out + "/teacher.safetensors";
    o.device = parse_device(device);
    o.out = testing::fresh_temp_dir("cuda_training_distill_" + device.substr(0, 4));
    return o;
  };
  const distill::DistillOptions gpu = options("cuda"), cpu = options("cpu");
  const distill::DistillResult on_gpu = distill::distill(gpu, false);
  distill::distill(cpu, false);
  EXPECT_EQ(on_gpu.skipped_steps, 0);
  const double generator = relative_difference(gpu.out + "/generator.safetensors",
                                               cpu.out + "/generator.safetensors");
  RecordProperty("generator_relative_difference", fmt::format("{:.3g}", generator));
  EXPECT_LT(generator, 1e-5);
}

}  // namespace
}  // namespace onestep
