#include "onestep/nn/toy_mlp.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::nn {

void ToyMLPConfig::validate() const {
  ONESTEP_CHECK(dim >= 1 && hidden >= 1 && num_blocks >= 0 && label_dim >= 0,
                "ToyMLP: dim, hidden must be positive and num_blocks, label_dim >= 0");
  ONESTEP_CHECK(noise_channels >= 4 && noise_channels % 2 == 0,
                "ToyMLP: noise_channels must be even and >= 4, got {}", noise_channels);
  // Far above any toy network; keeps hidden * hidden inside int64 for a damaged config.
  constexpr int64_t kMax = int64_t{1} << 20;
  ONESTEP_CHECK(dim <= kMax && hidden <= kMax && num_blocks <= kMax && label_dim <= kMax &&
                    noise_channels <= kMax,
                "ToyMLP: dim, hidden, num_blocks, noise_channels and label_dim must be <= {}",
                kMax);
}

ToyMLP::ToyMLP(const ToyMLPConfig& config, Rng& gen) : ConfiguredNet(config) {
  config_.validate();
  const Init init{InitMode::kaiming_uniform, 1.0, 0.0};
  const Init init_zero{InitMode::kaiming_uniform, 1e-3, 0.0};
  map_noise_ = register_module(
      "map_noise", std::make_shared<PositionalEmbedding>(config.noise_channels, 10000, true));
  if (config.label_dim > 0)
    map_label_ = register_module(
        "map_label",
        std::make_shared<Linear>(config.label_dim, config.noise_channels, true, init, gen));
  map_layer0_ = register_module(
      "map_layer0",
      std::make_shared<Linear>(config.noise_channels, config.hidden, true, init, gen));
  input_ = register_module("input",
                           std::make_shared<Linear>(config.dim, config.hidden, true, init, gen));
  auto blocks = register_module("blocks", std::make_shared<ModuleDict>());
  for (int64_t i = 0; i < config.num_blocks; ++i) {
    auto block = blocks->add(std::to_string(i), std::make_shared<ModuleDict>());
    blocks_.push_back(
        {block->add("fc0", std::make_shared<Linear>(config.hidden, config.hidden, true, init, gen)),
         block->add("fc1",
                    std::make_shared<Linear>(config.hidden, config.hidden, true, init_zero, gen))});
  }
  output_ = register_module(
      "output", std::make_shared<Linear>(config.hidden, config.dim, true, init_zero, gen));
}

Tensor ToyMLP::encode(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                      Rng*) const {
  ONESTEP_CHECK(x.dim() == 2 && x.size(1) == config_.dim, "ToyMLP: input must be [N, {}], got {}",
                config_.dim, shape_str(x.shape()));
  const int64_t batch = x.size(0);
  Tensor emb = map_noise_->forward(noise_labels.reshape({batch}));
  if (map_label_ && class_labels.defined())
    emb = emb + map_label_->forward(class_labels.to(emb.dtype()) *
                                    std::sqrt(static_cast<double>(config_.label_dim)));
  Tensor h = input_->forward(x) + silu(map_layer0_->forward(emb));
  for (const Block& block : blocks_) h = h + block.fc1->forward(silu(block.fc0->forward(silu(h))));
  return h;
}

Tensor ToyMLP::forward(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                       Rng* gen) const {
  return output_->forward(silu(encode(x, noise_labels, class_labels, gen)));
}

}  // namespace onestep::nn
