#pragma once
// The network of the 2-D teacher: a residual MLP conditioned on the noise label through the same
// positional embedding as SongUNet (and on a class label when label_dim > 0).
//   map_noise -> map_layer0 (SiLU) -> emb;  h = input(x) + emb
//   blocks.{i}: h = h + fc1(SiLU(fc0(SiLU(h)))) ;  out = output(SiLU(h))

#include <memory>
#include <vector>

#include "onestep/nn/layers.h"
#include "onestep/nn/noise_conditioned_net.h"

namespace onestep::nn {

struct ToyMLPConfig {
  int64_t dim = 2;              // data dimension
  int64_t hidden = 128;         // width
  int64_t num_blocks = 3;       // residual blocks
  int64_t noise_channels = 32;  // positional embedding size
  int64_t label_dim = 0;
  void validate() const;
};

class ToyMLP : public ConfiguredNet<ToyMLPConfig> {
 public:
  ToyMLP(const ToyMLPConfig& config, Rng& gen);
  Tensor forward(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                 Rng* gen) const override;
  Tensor encode(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                Rng* gen) const override;

 private:
  struct Block {
    std::shared_ptr<Linear> fc0, fc1;
  };
  std::shared_ptr<PositionalEmbedding> map_noise_;
  std::shared_ptr<Linear> map_label_, map_layer0_, input_, output_;
  std::vector<Block> blocks_;
};

}  // namespace onestep::nn
