#pragma once
// EDM's DhariwalUNet (NVlabs/edm training/networks.py): the ADM architecture of Dhariwal & Nichol
// ("Diffusion Models Beat GANs on Image Synthesis"), EDM's ImageNet-64 network, with EDM's module
// names so an EDM network's state_dict loads unchanged:
//   map_noise, map_augment, map_layer0/1, map_label;
//   enc.{res}x{res}_conv | _down | _block{i};  dec.{res}x{res}_in0 | _in1 | _up | _block{i};
//   out_norm, out_conv.
// Unlike SongUNet: blocks scale and shift by the embedding (adaptive_scale), skip_scale 1,
// GroupNorm eps 1e-5, weightless resampling skips, one attention head per 64 channels (none below
// 64), attention in every block of a listed resolution, labels added after map_layer1.

#include <memory>
#include <vector>

#include "onestep/nn/noise_conditioned_net.h"
#include "onestep/nn/unet_block.h"

namespace onestep::nn {

struct DhariwalUNetConfig {
  int64_t img_resolution = 64;
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t label_dim = 0;
  int64_t augment_dim = 0;
  int64_t model_channels = 192;
  std::vector<int64_t> channel_mult = {1, 2, 3, 4};
  int64_t channel_mult_emb = 4;
  int64_t num_blocks = 3;
  std::vector<int64_t> attn_resolutions = {32, 16, 8};
  double dropout = 0.10;
  double label_dropout = 0.0;

  // Throws onestep::Error naming the first unsupported or inconsistent setting.
  void validate() const;
};

class DhariwalUNet : public ConfiguredNet<DhariwalUNetConfig> {
 public:
  DhariwalUNet(const DhariwalUNetConfig& config, Rng& gen);
  Tensor forward(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                 Rng* gen) const override;
  Tensor encode(const Tensor& x, const Tensor& noise_labels, const Tensor& class_labels,
                Rng* gen) const override;

 private:
  Tensor embed(const Tensor& noise_labels, const Tensor& class_labels, int64_t batch,
               Rng* gen) const;
  // Checks the input, embeds, and runs the encoder; `skips` receives every encoder output.
  // Returns the embedding.
  Tensor run_encoder(const Tensor& input, const Tensor& noise_labels, const Tensor& class_labels,
                     Rng* gen, std::vector<Tensor>& skips) const;

  std::shared_ptr<PositionalEmbedding> map_noise_;
  std::shared_ptr<Linear> map_augment_, map_layer0_, map_layer1_, map_label_;
  std::shared_ptr<Conv2d> input_conv_;  // enc.{res}x{res}_conv
  std::vector<std::shared_ptr<UNetBlock>> encoder_, decoder_;
  std::shared_ptr<GroupNorm> out_norm_;
  std::shared_ptr<Conv2d> out_conv_;
};

}  // namespace onestep::nn
