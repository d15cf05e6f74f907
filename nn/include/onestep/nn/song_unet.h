#pragma once
// EDM's SongUNet in the DDPM++ configuration (NVlabs/edm training/networks.py), with EDM's
// module names, so an EDM network's state_dict loads unchanged:
//   map_noise, map_label, map_augment, map_layer0/1;
//   enc.{res}x{res}_conv | _down | _block{i};  dec.{res}x{res}_in0 | _in1 | _up | _block{i} |
//   _aux_norm | _aux_conv.
// UNetBlock: norm0, conv0, affine, norm1, conv1, skip, and with attention norm2, qkv, proj.

#include <memory>
#include <string>
#include <vector>

#include "onestep/nn/layers.h"
#include "onestep/nn/noise_conditioned_net.h"

namespace onestep::nn {

struct UNetBlockOptions {
  int64_t emb_channels = 0;
  bool up = false;
  bool down = false;
  bool attention = false;
  int64_t num_heads = 1;
  double dropout = 0.0;
  double skip_scale = 0.7071067811865476;  // sqrt(1/2)
  double eps = 1e-6;
  Init init{InitMode::xavier_uniform, 1.0, 0.0};
  Init init_zero{InitMode::xavier_uniform, 1e-5, 0.0};
  Init init_attn{InitMode::xavier_uniform, 0.4472135954999579, 0.0};  // sqrt(0.2)
};

// Residual block with the noise embedding added after conv0 (EDM's adaptive_scale=False,
// resample_proj=True), optional up/down resampling and optional single-head self-attention.
class UNetBlock : public Module {
 public:
  UNetBlock(int64_t in_channels, int64_t out_channels, const UNetBlockOptions& options, Rng& gen);
  // x: [N, in, H, W], emb: [N, emb_channels] -> [N, out, H', W']
  Tensor forward(const Tensor& x, const Tensor& emb, Rng* gen) const;

  int64_t in_channels, out_channels, num_heads;
  double dropout, skip_scale;
  std::shared_ptr<GroupNorm> norm0, norm1, norm2;
  std::shared_ptr<Conv2d> conv0, conv1, skip, qkv, proj;
  std::shared_ptr<Linear> affine;
};

struct SongUNetConfig {
  int64_t img_resolution = 32;
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t label_dim = 0;
  int64_t augment_dim = 0;
  int64_t model_channels = 128;
  std::vector<int64_t> channel_mult = {1, 2, 2, 2};
  int64_t channel_mult_emb = 4;
  int64_t num_blocks = 4;
  std::vector<int64_t> attn_resolutions = {16};
  double dropout = 0.10;
  double label_dropout = 0.0;
  std::string embedding_type = "positional";  // or "fourier"
  int64_t channel_mult_noise = 1;
  std::string encoder_type = "standard";  // the only one supported
  std::string decoder_type = "standard";  // the only one supported
  std::vector<double> resample_filter = {1, 1};

  // Throws onestep::Error naming the first unsupported or inconsistent setting.
  void validate() const;
};

class SongUNet : public ConfiguredNet<SongUNetConfig> {
 public:
  SongUNet(const SongUNetConfig& config, Rng& gen);
  Tensor forward(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                 Rng* gen) const override;
  Tensor encode(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                Rng* gen) const override;

 private:
  // One entry of enc/dec in EDM's order: exactly one of the pointers is set.
  struct Stage {
    std::string name;
    std::shared_ptr<UNetBlock> block;
    std::shared_ptr<Conv2d> conv;
    std::shared_ptr<GroupNorm> norm;
  };
  Tensor embed(const Tensor& noise_labels, const Tensor& class_labels, int64_t batch,
               Rng* gen) const;
  // Checks the input, embeds the noise and class labels, and runs the encoder; `skips` receives
  // every encoder output. Returns the embedding.
  Tensor run_encoder(const Tensor& input, const Tensor& noise_labels, const Tensor& class_labels,
                     Rng* gen, std::vector<Tensor>& skips) const;

  std::shared_ptr<Module> map_noise_;
  std::shared_ptr<PositionalEmbedding> positional_;
  std::shared_ptr<FourierEmbedding> fourier_;
  std::shared_ptr<Linear> map_label_, map_augment_, map_layer0_, map_layer1_;
  std::vector<Stage> encoder_, decoder_;
};

}  // namespace onestep::nn
