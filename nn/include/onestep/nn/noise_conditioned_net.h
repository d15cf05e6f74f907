#pragma once

#include "onestep/engine/random.h"
#include "onestep/nn/module.h"

namespace onestep::nn {

// A network F(x, noise label, class label) with an output of x's shape: what EDM's
// preconditioning wraps (SongUNet for images, ToyMLP for 2-D points).
class NoiseConditionedNet : public Module {
 public:
  // x: [N, ...]; noise_labels: [N]; class_labels: [N, label_dim] (one-hot) or undefined for
  // none. `gen` supplies dropout randomness and is required only when training with dropout.
  virtual Tensor forward(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                         Rng* gen) const = 0;
  // The encoder's bottleneck features for the same inputs (SongUNet: the output of the last
  // encoder stage; ToyMLP: the hidden state before the output layer), [N, ...]. Distillation
  // reads a discriminator logit from them.
  virtual Tensor encode(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                        Rng* gen) const = 0;
  virtual int64_t label_dim() const = 0;
};

// A NoiseConditionedNet built from a config struct with a label_dim field (SongUNetConfig,
// ToyMLPConfig): holds the config it was built with.
template <class Config>
class ConfiguredNet : public NoiseConditionedNet {
 public:
  int64_t label_dim() const override { return config_.label_dim; }
  const Config& config() const { return config_; }

 protected:
  explicit ConfiguredNet(const Config& config) : config_(config) {}
  const Config config_;
};

}  // namespace onestep::nn
