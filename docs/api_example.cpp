// docs/API.md quotes this file verbatim; tests/docs builds and runs it (exit 0 = it works).
#include <cstdio>

#include "onestep/onestep.h"  // every library; link onestep::distill

int main() {
  using namespace onestep;
  Rng gen(0);  // Philox: the same numbers on every device and thread count

  // Tensors and autograd: the gradient of sum((x w - y)^2) at w = 0 is -2 x^T y.
  const Tensor x = randn({8, 3}, gen);  // [8, 3]
  const Tensor y = randn({8, 1}, gen);  // [8, 1]
  const Tensor w = zeros({3, 1}).set_requires_grad(true);
  sum(square(matmul(x, w) - y)).backward();
  const Tensor expected = matmul(x.transpose(0, 1), y) * -2.0;
  if (amax(abs(w.grad() - expected)).item() > 1e-5) return 1;

  // A module, Adam, and a safetensors checkpoint with PyTorch-style names ("weight", "bias").
  nn::Linear layer(3, 1, /*bias=*/true, nn::Init{}, gen);
  nn::Adam adam(layer.parameters(), nn::AdamOptions{});
  for (int step = 0; step < 100; ++step) {
    adam.zero_grad();
    mse_loss(layer.forward(x), y).backward();
    adam.step();
  }
  nn::save_safetensors("api_example.safetensors", layer.state_dict());
  layer.load_state_dict(nn::load_safetensors("api_example.safetensors").tensors);

  // Diffusion: an EDM denoiser built from its config and sampled with Heun's method (18 steps).
  diffusion::ModelConfig config;
  config.arch = diffusion::NetworkArch::mlp;
  config.data_shape = {2};
  const auto denoiser = diffusion::build_denoiser(config, gen);
  const auto denoise = [&](const Tensor& x_t, double sigma) {
    return denoiser->forward(x_t, sigma);
  };
  const Tensor samples = diffusion::edm_sample(denoise, randn({4, 2}, gen), {});  // [4, 2]
  std::printf("%s\n", samples.str().c_str());
  return samples.shape() == Shape{4, 2} ? 0 : 1;
}
