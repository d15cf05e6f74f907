// SongUNet and its blocks: EDM's key names, shapes, gradients through every block and a whole
// tiny network, state_dict errors.

#include <gtest/gtest.h>

#include <set>

#include "onestep/nn/song_unet.h"
#include "onestep/nn/toy_mlp.h"
#include "testing/gradcheck.h"
#include "testing/network_gradcheck.h"

namespace onestep::nn {
namespace {

SongUNetConfig tiny_config() {
  SongUNetConfig c;
  c.img_resolution = 8;
  c.in_channels = 2;
  c.out_channels = 2;
  c.label_dim = 3;
  c.model_channels = 8;
  c.channel_mult = {1, 2};
  c.num_blocks = 1;
  c.attn_resolutions = {4};
  c.dropout = 0.0;
  return c;
}

TEST(SongUNet, KeysFollowEdmNames) {
  Rng gen(0);
  SongUNet net(tiny_config(), gen);
  std::set<std::string> keys;
  for (const auto& [name, t] : net.state_dict()) keys.insert(name);
  // A sample of EDM's names for this configuration (training/networks.py).
  for (const char* expected : {"map_label.weight",
                               "map_label.bias",
                               "map_layer0.weight",
                               "map_layer1.bias",
                               "enc.8x8_conv.weight",
                               "enc.8x8_block0.norm0.weight",
                               "enc.8x8_block0.conv0.weight",
                               "enc.8x8_block0.affine.weight",
                               "enc.8x8_block0.conv1.bias",
                               "enc.4x4_down.conv0.weight",
                               "enc.4x4_down.conv0.resample_filter",
                               "enc.4x4_down.skip.weight",
                               "enc.4x4_down.skip.resample_filter",
                               "enc.4x4_block0.skip.weight",
                               "enc.4x4_block0.norm2.weight",
                               "enc.4x4_block0.qkv.weight",
                               "enc.4x4_block0.proj.bias",
                               "dec.4x4_in0.qkv.weight",
                               "dec.4x4_in1.conv1.weight",
                               "dec.4x4_block0.skip.weight",
                               "dec.4x4_block1.qkv.bias",
                               "dec.8x8_up.conv0.resample_filter",
                               "dec.8x8_block1.norm0.bias",
                               "dec.8x8_aux_norm.weight",
                               "dec.8x8_aux_conv.weight",
                               "dec.8x8_aux_conv.bias"})
    EXPECT_TRUE(keys.count(expected)) << expected;
  EXPECT_FALSE(keys.count("dec.8x8_block1.qkv.weight"));   // attention only at 4x4
  EXPECT_FALSE(keys.count("enc.8x8_block0.skip.weight"));  // 8 -> 8 channels: no skip conv
  EXPECT_EQ(net.state_dict().size(), keys.size());
}

TEST(SongUNet, OutputHasTheInputShapeAndDependsOnEveryInput) {
  Rng gen(1);
  SongUNet net(tiny_config(), gen);
  testing::randomise(net.parameters(), 2);
  net.eval();
  const Tensor x = randn({2, 2, 8, 8}, gen);
  const Tensor noise = from_vector<float>({-1.0f, 0.5f}, {2});
  const Tensor labels = from_vector<float>({1, 0, 0, 0, 0, 1}, {2, 3});
  const Tensor y = net.forward(x, noise, labels, nullptr);
  ASSERT_EQ(y.shape(), x.shape());
  EXPECT_GT(testing::max_abs_diff(net.forward(x, noise * 2.0, labels, nullptr), y), 1e-4);
  const Tensor other_labels = from_vector<float>({0, 1, 0, 0, 0, 1}, {2, 3});
  EXPECT_GT(testing::max_abs_diff(net.forward(x, noise, other_labels, nullptr), y), 1e-4);
  EXPECT_GT(testing::max_abs_diff(net.forward(x * 0.5, noise, labels, nullptr), y), 1e-4);
}

TEST(SongUNet, ParametersCountMatchesEdmForTheCifarConfig) {
  // EDM's DDPM++ CIFAR-10 network (cond, augment_dim 9), built with EDM's own code, has
  // 55,735,299 parameters (tools/make_edm_golden.py run against NVlabs/edm).
  SongUNetConfig c;
  c.label_dim = 10;
  c.augment_dim = 9;
  c.channel_mult = {2, 2, 2};
  c.dropout = 0.13;
  Rng gen(0);
  EXPECT_EQ(SongUNet(c, gen).num_parameters(), 55735299);
}

TEST(SongUNet, ParametersCountMatchesEdmForTheNcsnppCifarConfig) {
  // EDM's NCSN++ CIFAR-10 network (cond, augment_dim 9): 56,400,643 parameters with EDM's code.
  SongUNetConfig c;
  c.label_dim = 10;
  c.augment_dim = 9;
  c.channel_mult = {2, 2, 2};
  c.dropout = 0.13;
  c.embedding_type = "fourier";
  c.channel_mult_noise = 2;
  c.encoder_type = "residual";
  c.resample_filter = {1, 3, 3, 1};
  Rng gen(0);
  EXPECT_EQ(SongUNet(c, gen).num_parameters(), 56400643);
}

TEST(SongUNet, SkipAndResidualPathsHaveEdmsNames) {
  Rng gen(0);
  SongUNetConfig c = tiny_config();
  c.encoder_type = "skip";
  c.decoder_type = "skip";
  std::set<std::string> keys;
  for (const auto& [name, t] : SongUNet(c, gen).state_dict()) keys.insert(name);
  for (const char* expected : {"enc.4x4_aux_down.resample_filter", "enc.4x4_aux_skip.weight",
                               "dec.8x8_aux_up.resample_filter", "dec.4x4_aux_norm.weight",
                               "dec.4x4_aux_conv.weight", "dec.8x8_aux_conv.bias"})
    EXPECT_TRUE(keys.count(expected)) << expected;
  c.encoder_type = "residual";
  c.decoder_type = "standard";
  keys.clear();
  for (const auto& [name, t] : SongUNet(c, gen).state_dict()) keys.insert(name);
  EXPECT_TRUE(keys.count("enc.4x4_aux_residual.weight"));
  EXPECT_TRUE(keys.count("enc.4x4_aux_residual.resample_filter"));
  EXPECT_FALSE(keys.count("dec.4x4_aux_conv.weight"));
}

TEST(SongUNet, BadConfigsAreClearErrors) {
  Rng gen(0);
  SongUNetConfig c = tiny_config();
  c.encoder_type = "progressive";
  EXPECT_THROW(SongUNet(c, gen), Error);
  c = tiny_config();
  c.decoder_type = "residual";  // EDM's decoders are standard or skip
  EXPECT_THROW(SongUNet(c, gen), Error);
  c = tiny_config();
  c.img_resolution = 6;
  c.channel_mult = {1, 1, 1};
  EXPECT_THROW(SongUNet(c, gen), Error);
  c = tiny_config();
  c.resample_filter = {1, 2, 1};  // odd: up and down would not double and halve the size
  EXPECT_THROW(SongUNet(c, gen), Error);
  c.resample_filter = {1, -1};
  EXPECT_THROW(SongUNet(c, gen), Error);
  SongUNet net(tiny_config(), gen);
  EXPECT_THROW(net.forward(zeros({1, 2, 4, 4}), zeros({1}), Tensor(), nullptr), Error);
  EXPECT_THROW(net.forward(zeros({1, 2, 8, 8}), zeros({1}), zeros({1, 5}), nullptr), Error);
}

TEST(SongUNet, TrainingWithDropoutNeedsAGenerator) {
  Rng gen(0);
  SongUNetConfig c = tiny_config();
  c.dropout = 0.2;
  SongUNet net(c, gen);
  EXPECT_THROW(net.forward(zeros({1, 2, 8, 8}), zeros({1}), Tensor(), nullptr), Error);
  Rng dropout_gen(5);
  const Tensor a = net.forward(ones({1, 2, 8, 8}), zeros({1}), Tensor(), &dropout_gen);
  net.eval();
  EXPECT_EQ(net.forward(ones({1, 2, 8, 8}), zeros({1}), Tensor(), nullptr).shape(), a.shape());
}

TEST(StateDict, ProblemsAreAllReportedByName) {
  Rng gen(0);
  SongUNet net(tiny_config(), gen);
  NamedTensors sd = net.state_dict();
  sd.erase(sd.begin());  // missing map_label.weight
  sd.emplace_back("extra.weight", zeros({1}));
  for (auto& [name, t] : sd)
    if (name == "enc.8x8_conv.weight") t = zeros({8, 2, 1, 1});
  try {
    net.load_state_dict(sd);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("missing key 'map_label.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected key 'extra.weight'"), std::string::npos) << m;
    EXPECT_NE(
        m.find("'enc.8x8_conv.weight' has shape [8, 2, 1, 1], the model expects [8, 2, 3, 3]"),
        std::string::npos)
        << m;
  }
}

TEST(StateDict, LoadingCopiesInPlaceSoHandlesStayValid) {
  Rng gen(0);
  SongUNet a(tiny_config(), gen), b(tiny_config(), gen);
  const Tensor handle = a.parameters()[0];
  a.copy_state_from(b);
  EXPECT_EQ(testing::max_abs_diff(handle, b.parameters()[0]), 0.0);
  EXPECT_TRUE(handle.requires_grad());
}

// --- gradient checks (f64, random directions) through each block kind and the whole network

TEST(SongUNetGradients, EveryBlockKindPassesGradcheck) {
  struct BlockCase {
    const char* name;
    int64_t in, out;
    bool down, up, attention;
    int64_t num_heads;
    // ADM's block: scale and shift, weightless resampling skip; NCSN++'s: the [1,3,3,1] filter.
    bool adm = false;
    bool fir = false;
  };
  const BlockCase cases[] = {{"plain", 4, 4, false, false, false, 1},
                             {"channel change (skip conv)", 4, 8, false, false, false, 1},
                             {"down", 4, 4, true, false, false, 1},
                             {"up", 4, 8, false, true, false, 1},
                             {"attention", 8, 8, false, false, true, 1},
                             {"two heads", 8, 8, false, false, true, 2},
                             {"ADM down", 4, 4, true, false, false, 1, true},
                             {"ADM up with two heads", 8, 8, false, true, true, 2, true},
                             {"NCSN++ down", 4, 4, true, false, false, 1, false, true},
                             {"NCSN++ up", 4, 8, false, true, false, 1, false, true}};
  for (const BlockCase& c : cases) {
    UNetBlockOptions options;
    if (c.adm) {
      options.adaptive_scale = true;
      options.resample_proj = false;
      options.skip_scale = 1.0;
      options.eps = 1e-5;
    }
    if (c.fir) options.resample_filter = {1, 3, 3, 1};
    options.emb_channels = 6;
    options.down = c.down;
    options.up = c.up;
    options.attention = c.attention;
    options.num_heads = c.num_heads;
    Rng gen(3);
    UNetBlock block(c.in, c.out, options, gen);
    block.to(DType::f64);
    testing::randomise(block.parameters(), 4);
    const Tensor x = randn({2, c.in, 4, 4}, gen, DType::f64).set_requires_grad(true);
    const Tensor emb = randn({2, 6}, gen, DType::f64).set_requires_grad(true);
    std::vector<Tensor> inputs = {x, emb};
    for (const Tensor& p : block.parameters()) inputs.push_back(p);
    const auto f = [&](const std::vector<Tensor>& in) {
      return block.forward(in[0], in[1], nullptr);
    };
    EXPECT_EQ(testing::gradcheck(f, inputs), "") << c.name;
  }
}

TEST(SongUNetGradients, AWholeTinyNetworkPassesGradcheck) {
  Rng gen(7);
  SongUNet net(tiny_config(), gen);
  const Tensor labels = from_vector<double>({0, 1, 0, 0, 0, 1}, {2, 3});
  EXPECT_EQ(testing::network_gradcheck(net, {2, 2, 8, 8}, labels, 8), "");
}

TEST(SongUNetGradients, NcsnppAndSkipNetworksPassGradcheck) {
  for (const char* encoder : {"residual", "skip"}) {
    Rng gen(7);
    SongUNetConfig c = tiny_config();
    c.encoder_type = encoder;
    c.decoder_type = std::string(encoder) == "skip" ? "skip" : "standard";
    c.resample_filter = {1, 3, 3, 1};
    c.embedding_type = "fourier";
    c.channel_mult_noise = 2;
    SongUNet net(c, gen);
    const Tensor labels = from_vector<double>({0, 1, 0, 0, 0, 1}, {2, 3});
    EXPECT_EQ(testing::network_gradcheck(net, {2, 2, 8, 8}, labels, 8), "") << encoder;
  }
}

TEST(ToyMLP, GradientsAndShapes) {
  Rng gen(9);
  ToyMLPConfig c;
  c.hidden = 16;
  c.num_blocks = 2;
  c.label_dim = 4;
  ToyMLP mlp(c, gen);
  mlp.to(DType::f64);
  testing::randomise(mlp.parameters(), 10);
  const Tensor x = randn({5, 2}, gen, DType::f64).set_requires_grad(true);
  const Tensor noise = randn({5}, gen, DType::f64);
  const Tensor labels = from_vector<double>(std::vector<double>(20, 0.25), {5, 4});
  std::vector<Tensor> inputs = {x};
  for (const Tensor& p : mlp.parameters()) inputs.push_back(p);
  const auto f = [&](const std::vector<Tensor>& in) {
    return mlp.forward(in[0], noise, labels, nullptr);
  };
  EXPECT_EQ(testing::gradcheck(f, inputs), "");
  EXPECT_EQ(mlp.forward(x, noise, labels, nullptr).shape(), (Shape{5, 2}));
}

}  // namespace
}  // namespace onestep::nn
