// EDM's own networks (NVlabs/edm, run by tools/make_edm_golden.py) saved with EDM's key names:
// the files load unchanged and onestep computes the same F and D, and EDM's 18-step Heun sampler
// (generate.py's edm_sampler) gives the same images. SongUNet as DDPM++ (tiny, fourier, augment),
// NCSN++ (ncsnpp) and with the skip encoder/decoder (skip); DhariwalUNet (adm32, adm64) with
// weights from the generator's formula, since a network wide enough for attention heads would
// take megabytes of stored weights.

#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <set>

#include "onestep/diffusion/model_config.h"
#include "onestep/diffusion/sampler.h"
#include "onestep/nn/safetensors.h"
#include "testing/expect_error.h"
#include "testing/gradcheck.h"

namespace onestep::diffusion {
namespace {

class EdmGolden : public ::testing::TestWithParam<const char*> {};

std::string golden_path(const std::string& name) {
  return std::string(ONESTEP_TEST_DATA_DIR) + "/edm_" + name + ".safetensors";
}

double relative_error(const Tensor& actual, const Tensor& expected) {
  return testing::max_abs_diff(actual, expected) /
         (1e-30 + amax(abs(expected.to(DType::f64))).item());
}

// tools/make_edm_golden.py's formula_values: a counter-based hash of (crc32(name), index), as a
// uniform value of standard deviation 0.2, computed in double and rounded to float.
std::vector<float> formula_values(const std::string& name, int64_t n, bool groupnorm_gain) {
  const uint64_t seed =
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(name.data()),
            static_cast<uInt>(name.size()));
  constexpr uint64_t kMask = 0xFFFFFFFFull;
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t x = (seed * 0x9E3779B1ull + static_cast<uint64_t>(i) * 0x85EBCA77ull + 0x165667B1ull) &
                 kMask;
    x ^= x >> 15;
    x = (x * 0x2C1B3C6Dull) & kMask;
    x ^= x >> 12;
    x = (x * 0x297A2D39ull) & kMask;
    x ^= x >> 15;
    const double v = (static_cast<double>(x) / 4294967296.0 - 0.5) * 0.6928203230275509;
    out[static_cast<size_t>(i)] = static_cast<float>(groupnorm_gain ? 1.0 + v : v);
  }
  return out;
}

// The golden network: loaded from the file, or (formula weights) built from its config, checked
// to have exactly EDM's state_dict names and shapes, and filled by the formula; EDM's buffers
// must equal what onestep built.
LoadedDenoiser golden_denoiser(const std::string& path, const nn::SafetensorsContent& file) {
  if (file.metadata.at("weights") == "stored") return load_denoiser(path);
  LoadedDenoiser loaded;
  loaded.config = ModelConfig::from_json(file.metadata.at("config"));
  Rng unused(0);
  loaded.net = build_denoiser(loaded.config, unused);
  const auto edm_shapes = nlohmann::json::parse(file.metadata.at("edm_state_dict"));
  std::set<std::string> gains;
  for (const auto& name : nlohmann::json::parse(file.metadata.at("groupnorm_weights")))
    gains.insert(name.get<std::string>());
  std::map<std::string, Shape> expected, actual;
  for (const auto& entry : edm_shapes) expected[entry[0]] = entry[1].get<Shape>();
  const nn::NamedTensors state = loaded.net->state_dict();
  for (const auto& [name, t] : state) actual[name] = t.shape();
  EXPECT_EQ(actual, expected) << "onestep's state_dict differs from EDM's";
  NoGradGuard no_grad;
  for (auto& [name, p] : loaded.net->named_parameters())
    p.copy_(from_vector(formula_values(name, p.numel(), gains.count(name) > 0), p.shape()));
  for (const auto& [name, t] : state)
    if (file.contains(name)) {  // the buffers EDM made (resample filters)
      EXPECT_EQ(testing::max_abs_diff(t, file.at(name)), 0.0) << name;
    }
  loaded.net->eval();
  return loaded;
}

TEST_P(EdmGolden, LoadsWithEdmKeysAndMatchesEdmOutputs) {
  const std::string path = golden_path(GetParam());
  const nn::SafetensorsContent file = nn::load_safetensors(path);
  LoadedDenoiser loaded = golden_denoiser(path, file);
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

// EDM's edm_sampler keeps the state in float64 and runs the network in float32 (EDMPrecond
// casts); onestep's sampler does the same with float64 latents and a float32 network.
TEST_P(EdmGolden, HeunSamplerMatchesEdmsGenerate) {
  const std::string path = golden_path(GetParam());
  const nn::SafetensorsContent file = nn::load_safetensors(path);
  LoadedDenoiser loaded = golden_denoiser(path, file);
  const Tensor latents = file.at("__sampler_latents").to(DType::f64);
  const Tensor labels =
      file.contains("__sampler_class_labels") ? file.at("__sampler_class_labels") : Tensor();
  SamplerOptions options;  // 18 Heun steps from 80 to 0.002, rho 7: EDM's defaults
  const DenoiseFn edm_way = [&](const Tensor& x, double s) {
    return loaded.net->forward(x.to(DType::f32), s, labels).to(DType::f64);
  };
  const Tensor expected = file.at("__output_heun_f32");
  const Tensor images = edm_sample(edm_way, latents, options);
  // Within 2/255 of the [-1, 1] range as 8-bit pixels (2/127.5), and far closer in fact.
  EXPECT_LE(testing::max_abs_diff(images, expected), 2.0 / 127.5);
  EXPECT_LE(relative_error(images, expected), 1e-4);

  // Everything in float64 against EDM's sampler run with the float64 denoiser.
  loaded.net->to(DType::f64);
  const Tensor labels64 = labels.defined() ? labels.to(DType::f64) : labels;
  const DenoiseFn in_f64 = [&](const Tensor& x, double s) {
    return loaded.net->forward(x, s, labels64);
  };
  EXPECT_LE(relative_error(edm_sample(in_f64, latents, options), file.at("__output_heun")), 1e-11);
}

INSTANTIATE_TEST_SUITE_P(Configs, EdmGolden,
                         ::testing::Values("songunet_tiny", "songunet_fourier", "songunet_augment",
                                           "songunet_ncsnpp", "songunet_skip",
                                           "dhariwalunet_adm32", "dhariwalunet_adm64"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

TEST(EdmGoldenErrors, AMisShapedKeyIsNamed) {
  nn::SafetensorsContent file = nn::load_safetensors(golden_path("songunet_tiny"));
  for (auto& [name, t] : file.tensors)
    if (name == "model.enc.4x4_block0.qkv.weight") t = zeros({48, 16, 3, 3});
  const std::string broken = ::testing::TempDir() + "/broken.safetensors";
  nn::save_safetensors(broken, file.tensors, file.metadata);
  testing::expect_error([&] { load_denoiser(broken); },
                        {"model.enc.4x4_block0.qkv.weight", "[48, 16, 3, 3]", "[48, 16, 1, 1]"});
}

}  // namespace
}  // namespace onestep::diffusion
