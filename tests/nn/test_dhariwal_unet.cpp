// DhariwalUNet (EDM's ADM): EDM's key names and parameter count, conditioning, gradients, errors.
// Its outputs against EDM's own code: tests/diffusion/test_edm_golden.cpp.

#include <gtest/gtest.h>

#include <set>

#include "onestep/nn/dhariwal_unet.h"
#include "testing/gradcheck.h"
#include "testing/network_gradcheck.h"

namespace onestep::nn {
namespace {

// 64 channels at 8x8 (one attention head) and 128 at 4x4 (two).
DhariwalUNetConfig tiny_config() {
  DhariwalUNetConfig c;
  c.img_resolution = 8;
  c.in_channels = c.out_channels = 1;
  c.label_dim = 4;
  c.model_channels = 64;
  c.channel_mult = {1, 2};
  c.channel_mult_emb = 1;
  c.num_blocks = 1;
  c.attn_resolutions = {4};
  c.dropout = 0.0;
  return c;
}

std::set<std::string> keys_of(const Module& m) {
  std::set<std::string> keys;
  for (const auto& [name, t] : m.state_dict()) keys.insert(name);
  return keys;
}

TEST(DhariwalUNet, KeysFollowEdmNames) {
  Rng gen(0);
  const std::set<std::string> keys = keys_of(DhariwalUNet(tiny_config(), gen));
  // EDM's names for this configuration (training/networks.py, listed by its state_dict).
  for (const char* expected :
       {"map_layer0.weight", "map_layer1.bias", "map_label.weight", "enc.8x8_conv.weight",
        "enc.8x8_block0.affine.weight", "enc.4x4_down.conv0.resample_filter",
        "enc.4x4_down.skip.resample_filter", "enc.4x4_block0.skip.weight",
        "enc.4x4_block0.qkv.weight", "dec.4x4_in0.proj.bias", "dec.4x4_block1.skip.weight",
        "dec.8x8_up.conv0.resample_filter", "dec.8x8_block1.conv1.weight", "out_norm.weight",
        "out_conv.bias"})
    EXPECT_TRUE(keys.count(expected)) << expected;
  EXPECT_FALSE(keys.count("map_label.bias"));          // no bias on the label map
  EXPECT_FALSE(keys.count("enc.4x4_down.skip.weight"));  // weightless resampling skip
  EXPECT_FALSE(keys.count("dec.8x8_block0.qkv.weight"));  // attention only at 4x4
  EXPECT_FALSE(keys.count("map_augment.weight"));
  Rng gen2(0);
  DhariwalUNet net(tiny_config(), gen2);
  EXPECT_EQ(net.state_dict().size(), keys.size());
  // scale and shift: affine maps the embedding to twice the block's channels.
  EXPECT_EQ(net.named_parameters().size(), keys.size() - 4);  // 4 resample_filter buffers
}

TEST(DhariwalUNet, BlocksNarrowerThan64ChannelsHaveNoAttention) {
  DhariwalUNetConfig c = tiny_config();
  c.model_channels = 8;
  c.attn_resolutions = {8, 4};
  Rng gen(0);
  for (const std::string& key : keys_of(DhariwalUNet(c, gen)))
    EXPECT_EQ(key.find("qkv"), std::string::npos) << key;
}

TEST(DhariwalUNet, ParametersCountMatchesEdmForTheImageNet64Config) {
  // EDM's ADM for ImageNet-64 (edm-imagenet-64x64-cond-adm.pkl: label_dim 1000, no augment):
  // 295,899,267 parameters with EDM's code.
  DhariwalUNetConfig c;
  c.label_dim = 1000;
  Rng gen(0);
  EXPECT_EQ(DhariwalUNet(c, gen).num_parameters(), 295899267);
}

TEST(DhariwalUNet, OutputHasTheInputShapeAndDependsOnEveryInput) {
  Rng gen(1);
  DhariwalUNet net(tiny_config(), gen);
  testing::randomise(net.parameters(), 2);
  net.eval();
  const Tensor x = randn({2, 1, 8, 8}, gen);
  const Tensor noise = from_vector<float>({-1.0f, 0.5f}, {2});
  const Tensor labels = from_vector<float>({1, 0, 0, 0, 0, 0, 1, 0}, {2, 4});
  const Tensor y = net.forward(x, noise, labels, nullptr);
  ASSERT_EQ(y.shape(), x.shape());
  EXPECT_GT(testing::max_abs_diff(net.forward(x, noise * 2.0, labels, nullptr), y), 1e-4);
  const Tensor other = from_vector<float>({0, 1, 0, 0, 0, 0, 1, 0}, {2, 4});
  EXPECT_GT(testing::max_abs_diff(net.forward(x, noise, other, nullptr), y), 1e-4);
  EXPECT_GT(testing::max_abs_diff(net.forward(x * 0.5, noise, labels, nullptr), y), 1e-4);
  EXPECT_EQ(net.encode(x, noise, labels, nullptr).shape(), Shape({2, 128, 4, 4}));
}

TEST(DhariwalUNet, BadInputsAndConfigsAreClearErrors) {
  Rng gen(0);
  DhariwalUNetConfig c = tiny_config();
  c.img_resolution = 6;
  c.channel_mult = {1, 1, 1};
  EXPECT_THROW(DhariwalUNet(c, gen), Error);
  c = tiny_config();
  c.model_channels = 2;
  EXPECT_THROW(DhariwalUNet(c, gen), Error);
  DhariwalUNet net(tiny_config(), gen);
  EXPECT_THROW(net.forward(zeros({1, 1, 4, 4}), zeros({1}), Tensor(), nullptr), Error);
  EXPECT_THROW(net.forward(zeros({1, 1, 8, 8}), zeros({1}), zeros({1, 5}), nullptr), Error);
  EXPECT_THROW(net.forward(zeros({2, 1, 8, 8}), zeros({1}), Tensor(), nullptr), Error);
}

TEST(DhariwalUNet, TrainingWithDropoutNeedsAGenerator) {
  Rng gen(0);
  DhariwalUNetConfig c = tiny_config();
  c.dropout = 0.2;
  c.label_dropout = 0.1;
  DhariwalUNet net(c, gen);
  EXPECT_THROW(net.forward(zeros({1, 1, 8, 8}), zeros({1}), Tensor(), nullptr), Error);
  Rng dropout_gen(5);
  EXPECT_EQ(net.forward(ones({1, 1, 8, 8}), zeros({1}), Tensor(), &dropout_gen).shape(),
            Shape({1, 1, 8, 8}));
}

TEST(DhariwalUNetGradients, AWholeTinyNetworkPassesGradcheck) {
  Rng gen(7);
  DhariwalUNetConfig c = tiny_config();
  c.model_channels = 8;  // no attention (tested per block in test_song_unet), fast enough in f64
  c.attn_resolutions = {};
  DhariwalUNet net(c, gen);
  const Tensor labels = from_vector<double>({0, 1, 0, 0, 0, 0, 0, 1}, {2, 4});
  EXPECT_EQ(testing::network_gradcheck(net, {2, 1, 8, 8}, labels, 8), "");
}

}  // namespace
}  // namespace onestep::nn
