// Self-describing checkpoints: a network built from a config saves and reloads to identical
// outputs; malformed configs and files are clear errors.

#include <gtest/gtest.h>
#include <unistd.h>

#include "onestep/diffusion/model_config.h"
#include "onestep/nn/safetensors.h"
#include "testing/gradcheck.h"

namespace onestep::diffusion {
namespace {

std::string temp_file(const std::string& name) {
  return ::testing::TempDir() + "/onestep_model_" + std::to_string(::getpid()) + "_" + name;
}

ModelConfig tiny_unet() {
  ModelConfig c;
  c.unet.img_resolution = 8;
  c.unet.in_channels = c.unet.out_channels = 1;
  c.unet.label_dim = 4;
  c.unet.model_channels = 8;
  c.unet.channel_mult = {1, 2};
  c.unet.num_blocks = 1;
  c.unet.attn_resolutions = {4};
  c.unet.embedding_type = "fourier";
  c.unet.channel_mult_noise = 2;
  c.data_spec = "png:somewhere";
  c.data_shape = {1, 8, 8};
  return c;
}

// ADM with two attention heads (128 channels at 4x4) and the NCSN++ options of SongUNet.
ModelConfig tiny_adm() {
  ModelConfig c;
  c.arch = NetworkArch::dhariwalunet;
  c.adm.img_resolution = 8;
  c.adm.in_channels = c.adm.out_channels = 1;
  c.adm.label_dim = 4;
  c.adm.model_channels = 64;
  c.adm.channel_mult = {1, 2};
  c.adm.channel_mult_emb = 1;
  c.adm.num_blocks = 1;
  c.adm.attn_resolutions = {4};
  c.data_shape = {1, 8, 8};
  return c;
}

ModelConfig tiny_ncsnpp() {
  ModelConfig c = tiny_unet();
  c.unet.encoder_type = "residual";
  c.unet.resample_filter = {1, 3, 3, 1};
  return c;
}

TEST(ModelConfig, JsonRoundTrips) {
  ModelConfig c = tiny_unet();
  c.one_step_sigma = 2.5;
  const ModelConfig back = ModelConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  ModelConfig mlp;
  mlp.arch = NetworkArch::mlp;
  mlp.mlp.hidden = 32;
  mlp.data_shape = {2};
  EXPECT_EQ(ModelConfig::from_json(mlp.to_json()).to_json(), mlp.to_json());
  for (const ModelConfig& unet : {tiny_adm(), tiny_ncsnpp()})
    EXPECT_EQ(ModelConfig::from_json(unet.to_json()).to_json(), unet.to_json());
}

TEST(ModelConfig, ASavedNetworkReloadsToIdenticalOutputs) {
  for (const ModelConfig& config : {tiny_unet(), tiny_adm(), tiny_ncsnpp(), [] {
                                      ModelConfig m;
                                      m.arch = NetworkArch::mlp;
                                      m.mlp.hidden = 16;
                                      m.data_shape = {2};
                                      return m;
                                    }()}) {
    Rng gen(3);
    const auto net = build_denoiser(config, gen);
    {
      NoGradGuard no_grad;  // EDM's zero-initialised output layers would make outputs trivial
      for (auto& [name, p] : net->named_parameters()) p.copy_(randn(p.shape(), gen) * 0.2);
    }
    net->eval();
    const std::string path = temp_file(arch_name(config.arch) + ".safetensors");
    save_denoiser(path, *net, config, {{"note", "test"}});
    const LoadedDenoiser loaded = load_denoiser(path);
    EXPECT_EQ(loaded.config.to_json(), config.to_json());
    EXPECT_EQ(loaded.metadata.at("note"), "test");
    Shape shape = {3};
    shape.insert(shape.end(), config.data_shape.begin(), config.data_shape.end());
    const Tensor x = randn(shape, gen);
    const Tensor sigma = from_vector<float>({0.1f, 1.0f, 10.0f}, {3});
    const Tensor labels =
        config.label_dim() ? from_vector<float>(std::vector<float>(12, 0.25f), {3, 4}) : Tensor();
    NoGradGuard no_grad;
    EXPECT_EQ(testing::max_abs_diff(loaded.net->forward(x, sigma, labels),
                                    net->forward(x, sigma, labels)),
              0.0)
        << arch_name(config.arch);
  }
}

TEST(ModelConfig, BadConfigsAreNamed) {
  auto expect_error = [](const std::string& json, const std::string& fragment) {
    try {
      ModelConfig::from_json(json);
      ADD_FAILURE() << "no error for " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error("{", "not valid JSON");
  expect_error("[]", "JSON object");
  expect_error(R"({"kind": "gan"})", "kind");
  expect_error(R"({"kind": "edm-denoiser"})", "network");
  expect_error(R"({"kind": "edm-denoiser", "network": {"arch": "dit"}})", "dit");
  expect_error(
      R"({"kind": "edm-denoiser", "network": {"arch": "songunet", "model_channels": "wide"}})",
      "model_channels");
  expect_error(
      R"({"kind": "edm-denoiser", "network": {"arch": "songunet", "encoder_type": "progressive"}})",
      "progressive");
  expect_error(
      R"({"kind": "edm-denoiser", "network": {"arch": "dhariwalunet", "channel_mult": []}})",
      "DhariwalUNet: channel_mult is empty");
  expect_error(R"({"kind": "edm-denoiser", "label_dim": 3, "network": {"arch": "songunet"}})",
               "label_dim");
  expect_error(R"({"kind": "edm-denoiser", "sigma_data": -1, "network": {"arch": "mlp"}})",
               "sigma_data");
}

TEST(ModelConfig, AFileWithoutAConfigIsNotAModel) {
  const std::string path = temp_file("plain.safetensors");
  nn::save_safetensors(path, {{"w", zeros({2})}});
  try {
    load_denoiser(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a onestep model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace onestep::diffusion
