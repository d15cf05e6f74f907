// `onestep demo`: the engine end to end on a 2-D regression toy. A small MLP learns
// f(x) = sin(pi x0) cos(pi x1) on [-1, 1]^2 with autograd and Adam, its weights are saved as
// safetensors with the config in the metadata, reloaded, and checked to predict the same.

#include <chrono>
#include <cmath>
#include <filesystem>

#include "commands.h"
#include "onestep/engine.h"
#include "onestep/nn/optimizer.h"
#include "onestep/nn/safetensors.h"

namespace onestep::app {

namespace {

struct DemoOptions {
  std::string out = "runs/demo";
  int64_t steps = 1500;
  int64_t hidden = 64;
  int64_t points = 1024;
  double lr = 3e-3;
  uint64_t seed = 0;
};

struct Mlp {
  std::vector<std::pair<std::string, Tensor>> params;

  // PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  static Mlp create(int64_t hidden, Rng& gen) {
    Mlp mlp;
    const int64_t sizes[] = {2, hidden, hidden, 1};
    for (int layer = 0; layer < 3; ++layer) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[layer]));
      auto uniform = [&](const Shape& s) { return (rand(s, gen) * 2.0 - 1.0) * bound; };
      mlp.params.push_back({fmt::format("layers.{}.weight", layer),
                            uniform({sizes[layer + 1], sizes[layer]}).set_requires_grad(true)});
      mlp.params.push_back({fmt::format("layers.{}.bias", layer),
                            uniform({sizes[layer + 1]}).set_requires_grad(true)});
    }
    return mlp;
  }

  Tensor forward(const Tensor& x) const {
    Tensor h = x;
    for (size_t layer = 0; layer < 3; ++layer) {
      h = linear(h, params[2 * layer].second, params[2 * layer + 1].second);
      if (layer < 2) h = silu(h);
    }
    return h;
  }

  std::vector<Tensor> tensors() const {
    std::vector<Tensor> out;
    for (const auto& p : params) out.push_back(p.second);
    return out;
  }
};

Tensor target_function(const Tensor& x) {
  constexpr double kPi = 3.14159265358979323846;
  return sin(x.slice(1, 0, 1) * kPi) * cos(x.slice(1, 1, 2) * kPi);
}

int run_demo(const DemoOptions& o) {
  Rng gen(o.seed);
  const Tensor x = rand({o.points, 2}, gen) * 2.0 - 1.0;
  const Tensor y = target_function(x);
  const Tensor x_test = rand({o.points, 2}, gen) * 2.0 - 1.0;
  const Tensor y_test = target_function(x_test);

  Mlp mlp = Mlp::create(o.hidden, gen);
  nn::Adam adam(mlp.tensors(), nn::AdamOptions{o.lr});
  fmt::print(
      "onestep demo: MLP 2-{}-{}-1 on sin(pi x0) cos(pi x1), {} points, Adam lr {}, "
      "{} threads\n",
      o.hidden, o.hidden, o.points, o.lr, num_threads());
  const auto start = std::chrono::steady_clock::now();
  double first_loss = 0, last_loss = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    adam.zero_grad();
    const Tensor loss = mse_loss(mlp.forward(x), y);
    loss.backward();
    adam.step();
    last_loss = loss.item();
    if (step == 0) first_loss = last_loss;
    if (step % (o.steps / 10 > 0 ? o.steps / 10 : 1) == 0 || step + 1 == o.steps)
      fmt::print("  step {:>5}  train mse {:.3e}\n", step, last_loss);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  double test_loss;
  {
    NoGradGuard no_grad;
    test_loss = mse_loss(mlp.forward(x_test), y_test).item();
  }
  std::filesystem::create_directories(o.out);
  const std::string path = (std::filesystem::path(o.out) / "mlp.safetensors").string();
  nn::save_safetensors(path, mlp.params,
                       {{"model", "mlp"},
                        {"hidden", std::to_string(o.hidden)},
                        {"steps", std::to_string(o.steps)},
                        {"seed", std::to_string(o.seed)}});

  // Reload into a fresh model and check that it predicts exactly the same.
  const nn::SafetensorsContent loaded = nn::load_safetensors(path);
  Mlp restored;
  for (const auto& [name, tensor] : mlp.params) restored.params.push_back({name, loaded.at(name)});
  double max_difference;
  {
    NoGradGuard no_grad;
    max_difference = amax(abs(restored.forward(x_test) - mlp.forward(x_test))).item();
  }
  fmt::print(
      "trained {} steps in {:.2f} s: train mse {:.3e} -> {:.3e} ({:.0f}x lower), "
      "held-out mse {:.3e}\n",
      o.steps, seconds, first_loss, last_loss, first_loss / last_loss, test_loss);
  fmt::print("saved {} and reloaded it: max prediction difference {}\n", path, max_difference);
  ONESTEP_CHECK(max_difference == 0.0, "reloaded model predicts differently (by {})",
                max_difference);
  return 0;
}

}  // namespace

Run add_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Train a small MLP with the engine and save it");
  cmd->add_option("--out", options->out, "Run directory")->capture_default_str();
  cmd->add_option("--steps", options->steps, "Training steps")
      ->check(in_range(1, 10000000))
      ->capture_default_str();
  cmd->add_option("--hidden", options->hidden, "Hidden width")
      ->check(in_range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--points", options->points, "Training points")
      ->check(in_range(1, 10000000))
      ->capture_default_str();
  cmd->add_option("--lr", options->lr, "Adam learning rate")
      ->check(in_range(1e-8, 1.0))
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "Random seed")
      ->check(kNonNegative)
      ->capture_default_str();
  return [options] {
    check_output_folder("--out", options->out);
    return run_demo(*options);
  };
}

}  // namespace onestep::app
