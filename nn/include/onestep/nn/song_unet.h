#pragma once
// EDM's SongUNet (NVlabs/edm training/networks.py) in all its configurations, DDPM++ and NCSN++,
// with EDM's module names, so an EDM network's state_dict loads unchanged:
//   map_noise, map_label, map_augment, map_layer0/1;
//   enc.{res}x{res}_conv | _down | _aux_down | _aux_skip | _aux_residual | _block{i};
//   dec.{res}x{res}_in0 | _in1 | _up | _block{i} | _aux_up | _aux_norm | _aux_conv.

#include <memory>
#include <string>
#include <vector>

#include "onestep/nn/layers.h"
#include "onestep/nn/noise_conditioned_net.h"
#include "onestep/nn/unet_block.h"

namespace onestep::nn {

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
  // "standard" (DDPM++), "skip", or "residual" (NCSN++: the input, downsampled by a strided
  // conv at each level, is added to the first activation of the level).
  std::string encoder_type = "standard";
  // "standard", or "skip" (the output is a sum of per-level output convs, upsampled).
  std::string decoder_type = "standard";
  std::vector<double> resample_filter = {1, 1};  // [1,3,3,1] for NCSN++

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
  // What an entry of enc/dec does with the main path x and the auxiliary path (EDM's `aux`):
  // the name's suffix in EDM.
  enum class Role { block, conv, aux_down, aux_skip, aux_residual, aux_up, aux_norm, aux_conv };
  // One entry of enc/dec in EDM's order: `block` for blocks, `norm` for aux_norm, else `conv`.
  struct Stage {
    Role role;
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
