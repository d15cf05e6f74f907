// EDM's own networks (NVlabs/edm, run by tools/make_edm_golden.py) saved with EDM's key names:
// the files load unchanged and onestep computes the same F and D.

#include <gtest/gtest.h>

#include "onestep/diffusion/model_config.h"
#include "onestep/nn/safetensors.h"
#include "testing/expect_error.h"
#include "testing/gradcheck.h"

namespace onestep::diffusion {
namespace {

class EdmGolden : public ::testing::TestWithParam<const char*> {};

std::string golden_path(const std::string& name) {
  return std::string(ONESTEP_TEST_DATA_DIR) + "/edm_songunet_" + name + ".safetensors";
}

double relative_error(const Tensor& actual, const Tensor& expected) {
  return testing::max_abs_diff(actual, expected) /
         (1e-30 + amax(abs(expected.to(DType::f64))).item());
}

TEST_P(EdmGolden, LoadsWithEdmKeysAndMatchesEdmOutputs) {
  const std::string path = golden_path(GetParam());
  const nn::SafetensorsContent file = nn::load_safetensors(path);
  LoadedDenoiser loaded = load_denoiser(path);
  const Tensor x = file.at("__input_x");
  const Tensor sigma = file.at("__input_sigma");
  const Tensor labels =
      file.contains("__input_class_labels") ? file.at("__input_class_labels") : Tensor();
  NoGradGuard no_grad;

  // EDM itself, in float32.
  EXPECT_LE(relative_error(loaded.net->forward(x, sigma, labels), file.at("__output_D_f32")), 2e-5);

  // The float64 reference computed from the same weights.
  loaded.net->to(DType::f64);
  const Tensor x64 = x.to(DType::f64), s64 = sigma.to(DType::f64);
  const Tensor labels64 = labels.defined() ? labels.to(DType::f64) : labels;
  EXPECT_LE(relative_error(loaded.net->forward(x64, s64, labels64), file.at("__output_D")), 1e-12);
  const double sd = loaded.config.sigma_data;
  const Tensor c_in = rsqrt(s64 * s64 + sd * sd).reshape({-1, 1, 1, 1});
  const Tensor F = loaded.net->model().forward(x64 * c_in, log(s64) * 0.25, labels64, nullptr);
  EXPECT_LE(relative_error(F, file.at("__output_F")), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Configs, EdmGolden, ::testing::Values("tiny", "fourier", "augment"));

TEST(EdmGoldenErrors, AMisShapedKeyIsNamed) {
  nn::SafetensorsContent file = nn::load_safetensors(golden_path("tiny"));
  for (auto& [name, t] : file.tensors)
    if (name == "model.enc.4x4_block0.qkv.weight") t = zeros({48, 16, 3, 3});
  const std::string broken = ::testing::TempDir() + "/broken.safetensors";
  nn::save_safetensors(broken, file.tensors, file.metadata);
  testing::expect_error([&] { load_denoiser(broken); },
                        {"model.enc.4x4_block0.qkv.weight", "[48, 16, 3, 3]", "[48, 16, 1, 1]"});
}

}  // namespace
}  // namespace onestep::diffusion
