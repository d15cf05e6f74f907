// A program of its own that embeds onestep: it trains two tiny models through the library and
// checks what it gets back. Exit status 0 only when every check passes (CI runs it against an
// installed onestep: scripts/check-embed.sh).
//
//   1. Regression with the engine's autograd: a two-layer network of nn::Linear fits
//      y = sin(3x) with Adam; the loss must fall tenfold. Its weights go to a safetensors file
//      and come back into a freshly initialised network, which must predict the same.
//   2. A diffusion generator: an EDM denoiser (the toy MLP) learns toy:8gaussians, is saved as a
//      self-describing checkpoint, loaded back by path alone and sampled with Heun's method; the
//      samples must land on the mixture's modes.
//
// Usage: train_and_sample [OUTPUT_DIR]   (default: the current directory)

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "onestep/onestep.h"

namespace {

using onestep::Rng;
using onestep::Tensor;
namespace nn = onestep::nn;
namespace diffusion = onestep::diffusion;

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

// x: [N, 1] -> [N, 1]
class Regressor : public nn::Module {
 public:
  explicit Regressor(Rng& gen) {
    const nn::Init init{nn::InitMode::kaiming_uniform, 1.0, 0.0};
    fc0_ = register_module("fc0", std::make_shared<nn::Linear>(1, 64, true, init, gen));
    fc1_ = register_module("fc1", std::make_shared<nn::Linear>(64, 1, true, init, gen));
  }
  Tensor forward(const Tensor& x) const { return fc1_->forward(onestep::tanh(fc0_->forward(x))); }

 private:
  std::shared_ptr<nn::Linear> fc0_, fc1_;
};

void regression(const std::string& dir) {
  Rng gen(7);
  const Tensor x = onestep::rand({256, 1}, gen) * 2.0 - 1.0;  // uniform in [-1, 1)
  const Tensor y = onestep::sin(x * 3.0);

  Regressor net(gen);
  nn::AdamOptions adam;
  adam.lr = 1e-2;
  nn::Adam optimizer(net.parameters(), adam);
  double first_loss = 0, loss_value = 0;
  for (int step = 0; step <= 300; ++step) {
    optimizer.zero_grad();
    const Tensor loss = onestep::mse_loss(net.forward(x), y);
    loss.backward();
    optimizer.step();
    loss_value = loss.item();
    if (step == 0) first_loss = loss_value;
    if (step % 100 == 0) std::printf("regression step %3d  loss %.5f\n", step, loss_value);
  }
  check(loss_value < first_loss / 10, "the regression loss fell tenfold");

  const std::string path = dir + "/regressor.safetensors";
  nn::save_safetensors(path, net.state_dict(), {{"model", "Regressor"}});
  Rng other_seed(8);
  Regressor loaded(other_seed);
  loaded.load_state_dict(nn::load_safetensors(path).tensors);
  onestep::NoGradGuard no_grad;
  const double gap = onestep::amax(onestep::abs(loaded.forward(x) - net.forward(x))).item();
  check(gap == 0.0, "the reloaded regressor predicts exactly as the trained one");
}

void diffusion_generator(const std::string& dir) {
  Rng gen(11);
  diffusion::ModelConfig config;
  config.arch = diffusion::NetworkArch::mlp;
  config.mlp.hidden = 64;
  config.mlp.num_blocks = 2;
  config.data_spec = "toy:8gaussians";
  config.data_shape = {2};
  config.source = "examples/embed";
  const std::shared_ptr<diffusion::EdmPrecond> net = diffusion::build_denoiser(config, gen);

  nn::AdamOptions adam;
  adam.lr = 2e-3;
  nn::Adam optimizer(net->parameters(), adam);
  for (int step = 0; step <= 1500; ++step) {
    const Tensor x0 = diffusion::sample_toy("8gaussians", 256, gen);  // [256, 2]
    optimizer.zero_grad();
    const Tensor loss = onestep::mean(diffusion::edm_loss(*net, x0, Tensor(), gen));
    loss.backward();
    optimizer.step();
    if (step % 500 == 0) std::printf("denoiser step %4d  EDM loss %.4f\n", step, loss.item());
  }

  const std::string path = dir + "/toy_denoiser.safetensors";
  diffusion::save_denoiser(path, *net, config);
  const diffusion::LoadedDenoiser loaded = diffusion::load_denoiser(path);

  diffusion::SamplerOptions sampler;  // Heun, 18 steps
  const auto denoise = [&](const Tensor& x, double sigma) { return loaded.net->forward(x, sigma); };
  const Tensor samples =
      diffusion::edm_sample(denoise, onestep::randn({2000, 2}, gen), sampler);  // [2000, 2]

  double stddev = 0;
  const Tensor means = diffusion::toy_mixture_means("8gaussians", &stddev);
  const diffusion::ModeStats stats = diffusion::mixture_mode_stats(samples, means, stddev);
  std::printf("samples: %lld of %lld modes covered, %.1f%% within 3 std of a mode\n",
              static_cast<long long>(stats.modes_covered), static_cast<long long>(stats.modes),
              100 * stats.high_quality_fraction);
  check(stats.modes_covered == stats.modes, "the sampled generator covers every mode");
  check(stats.high_quality_fraction > 0.5, "most samples land on a mode");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  // These models are tiny: one thread beats two, whose barriers cost more than the work (and
  // stall badly when another process shares the cores).
  onestep::set_num_threads(1);
  try {
    regression(dir);
    diffusion_generator(dir);
  } catch (const onestep::Error& e) {
    std::fprintf(stderr, "onestep error: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
  return failures == 0 ? 0 : 1;
}
