// EDM's networks on device cuda against the CPU: SongUNet as NCSN++ (FIR resampling, residual
// encoder, Fourier embedding) and with the skip encoder/decoder, and DhariwalUNet with two
// attention heads, conditional; the forward pass and the gradients of every parameter. The
// backends sum in different orders, so they agree to float32 rounding, not to the bit.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../engine/cuda/cuda_test_util.h"
#include "onestep/nn/dhariwal_unet.h"
#include "onestep/nn/song_unet.h"
#include "testing/gradcheck.h"

namespace onestep::nn {
namespace {

SongUNetConfig song_config(const std::string& encoder, const std::string& decoder) {
  SongUNetConfig c;
  c.img_resolution = 8;
  c.in_channels = c.out_channels = 3;
  c.label_dim = 4;
  c.model_channels = 8;
  c.channel_mult = {2, 1};
  c.num_blocks = 1;
  c.attn_resolutions = {4};
  c.dropout = 0;
  c.embedding_type = "fourier";
  c.channel_mult_noise = 2;
  c.encoder_type = encoder;
  c.decoder_type = decoder;
  c.resample_filter = {1, 3, 3, 1};
  return c;
}

DhariwalUNetConfig adm_config() {
  DhariwalUNetConfig c;
  c.img_resolution = 8;
  c.in_channels = c.out_channels = 3;
  c.label_dim = 4;
  c.model_channels = 64;
  c.channel_mult = {1, 2};
  c.channel_mult_emb = 1;
  c.num_blocks = 1;
  c.attn_resolutions = {4};
  c.dropout = 0;
  return c;
}

// The output and every parameter's gradient of sum(output * weights), on `device`.
std::vector<Tensor> forward_and_gradients(NoiseConditionedNet& net, Device device) {
  net.to(device);
  net.zero_grad();
  Rng gen(11);
  const Tensor x = randn({2, 3, 8, 8}, gen).to(device);
  const Tensor noise = from_vector<float>({-0.7f, 1.3f}, {2}).to(device);
  const Tensor labels = from_vector<float>({0, 1, 0, 0, 0, 0, 0, 1}, {2, 4}).to(device);
  const Tensor weights = randn({2, 3, 8, 8}, gen).to(device);
  const Tensor y = net.forward(x, noise, labels, nullptr);
  sum(y * weights).backward();
  std::vector<Tensor> out = {y.to(Device::cpu())};
  for (const Tensor& p : net.parameters()) out.push_back(p.grad().to(Device::cpu()));
  return out;
}

// The same randomised network of `config` built twice, one run on each device.
template <class Net, class Config>
void expect_cuda_matches_cpu(const Config& config, const char* what) {
  const auto make = [&] {
    Rng gen(3);
    auto net = std::make_shared<Net>(config, gen);
    testing::randomise(net->parameters(), 4);
    return net;
  };
  const auto cpu_net = make(), gpu_net = make();
  const std::vector<Tensor> cpu = forward_and_gradients(*cpu_net, Device::cpu());
  const std::vector<Tensor> gpu = forward_and_gradients(*gpu_net, cuda_testing::gpu());
  ASSERT_EQ(cpu.size(), gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double scale = amax(abs(cpu[i].to(DType::f64))).item();
    EXPECT_EQ(cuda_testing::compare(gpu[i], cpu[i], 1e-5 * scale + 1e-12, 1e-4), "")
        << what << (i == 0 ? ": output" : ": gradient of parameter " + std::to_string(i - 1));
  }
}

TEST(CudaNetworks, NcsnppSkipAndAdmMatchTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  expect_cuda_matches_cpu<SongUNet>(song_config("residual", "standard"), "NCSN++");
  expect_cuda_matches_cpu<SongUNet>(song_config("skip", "skip"), "skip encoder and decoder");
  expect_cuda_matches_cpu<DhariwalUNet>(adm_config(), "ADM");
}

}  // namespace
}  // namespace onestep::nn
