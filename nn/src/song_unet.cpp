#include "onestep/nn/song_unet.h"

#include <cmath>

#include "onestep/engine.h"
#include "unet_common.h"

namespace onestep::nn {

namespace {
constexpr double kSqrtHalf = 0.7071067811865476;
}  // namespace

void SongUNetConfig::validate() const {
  check_unet_settings(*this, "SongUNet");
  ONESTEP_CHECK(channel_mult_noise >= 1 && channel_mult_noise <= kMaxUNetFactor,
                "SongUNet: channel_mult_noise must be in [1, {}]", kMaxUNetFactor);
  ONESTEP_CHECK(embedding_type == "positional" || embedding_type == "fourier",
                "SongUNet: embedding_type must be positional or fourier, got '{}'", embedding_type);
  ONESTEP_CHECK(encoder_type == "standard" || encoder_type == "skip" || encoder_type == "residual",
                "SongUNet: encoder_type must be standard, skip or residual, got '{}'",
                encoder_type);
  ONESTEP_CHECK(decoder_type == "standard" || decoder_type == "skip",
                "SongUNet: decoder_type must be standard or skip, got '{}'", decoder_type);
  check_resample_filter(resample_filter, "SongUNet");
}

SongUNet::SongUNet(const SongUNetConfig& config, Rng& gen) : ConfiguredNet(config) {
  config_.validate();
  const SongUNetConfig& c = config_;
  const int64_t emb_channels = c.model_channels * c.channel_mult_emb;
  const int64_t noise_channels = c.model_channels * c.channel_mult_noise;
  UNetBlockOptions block;
  block.emb_channels = emb_channels;
  block.dropout = c.dropout;
  block.resample_filter = c.resample_filter;
  const Init init = block.init, init_zero = block.init_zero;

  if (c.embedding_type == "positional") {
    positional_ = register_module(
        "map_noise", std::make_shared<PositionalEmbedding>(noise_channels, 10000, true));
  } else {
    fourier_ =
        register_module("map_noise", std::make_shared<FourierEmbedding>(noise_channels, 16.0, gen));
  }
  if (c.label_dim > 0)
    map_label_ = register_module(
        "map_label", std::make_shared<Linear>(c.label_dim, noise_channels, true, init, gen));
  if (c.augment_dim > 0)
    map_augment_ = register_module(
        "map_augment", std::make_shared<Linear>(c.augment_dim, noise_channels, false, init, gen));
  map_layer0_ = register_module(
      "map_layer0", std::make_shared<Linear>(noise_channels, emb_channels, true, init, gen));
  map_layer1_ = register_module(
      "map_layer1", std::make_shared<Linear>(emb_channels, emb_channels, true, init, gen));

  auto enc = register_module("enc", std::make_shared<ModuleDict>());
  auto dec = register_module("dec", std::make_shared<ModuleDict>());
  auto add_block = [&](std::vector<Stage>& stages, ModuleDict& dict, const std::string& name,
                       int64_t cin, int64_t cout, UNetBlockOptions options) {
    stages.push_back({Role::block,
                      dict.add(name, std::make_shared<UNetBlock>(cin, cout, options, gen)), nullptr,
                      nullptr});
  };
  auto add_conv = [&](std::vector<Stage>& stages, ModuleDict& dict, const std::string& name,
                      Role role, int64_t cin, int64_t cout, const Conv2d::Options& options,
                      const Init& conv_init) {
    stages.push_back({role, nullptr,
                      dict.add(name, std::make_shared<Conv2d>(cin, cout, options, conv_init, gen)),
                      nullptr});
  };
  Conv2d::Options conv3;
  Conv2d::Options pointwise;
  pointwise.kernel = 1;
  Conv2d::Options resample_only;
  resample_only.kernel = 0;
  resample_only.resample_filter = c.resample_filter;

  const int64_t levels = static_cast<int64_t>(c.channel_mult.size());
  int64_t cout = c.in_channels;
  int64_t caux = c.in_channels;
  std::vector<int64_t> skips;
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t res = c.img_resolution >> level;
    const std::string prefix = fmt::format("{}x{}", res, res);
    if (level == 0) {
      const int64_t cin = cout;
      cout = c.model_channels;
      add_conv(encoder_, *enc, prefix + "_conv", Role::conv, cin, cout, conv3, init);
    } else {
      UNetBlockOptions down = block;
      down.down = true;
      add_block(encoder_, *enc, prefix + "_down", cout, cout, down);
      if (c.encoder_type == "skip") {
        Conv2d::Options aux_down = resample_only;
        aux_down.down = true;
        add_conv(encoder_, *enc, prefix + "_aux_down", Role::aux_down, caux, caux, aux_down, init);
        add_conv(encoder_, *enc, prefix + "_aux_skip", Role::aux_skip, caux, cout, pointwise, init);
      }
      if (c.encoder_type == "residual") {
        Conv2d::Options residual = conv3;
        residual.down = true;
        residual.resample_filter = c.resample_filter;
        residual.fused_resample = true;
        add_conv(encoder_, *enc, prefix + "_aux_residual", Role::aux_residual, caux, cout,
                 residual, init);
        caux = cout;
      }
    }
    skips.push_back(cout);
    for (int64_t idx = 0; idx < c.num_blocks; ++idx) {
      const int64_t cin = cout;
      cout = c.model_channels * c.channel_mult[level];
      UNetBlockOptions options = block;
      options.attention = has_attention_at(c.attn_resolutions, res);
      add_block(encoder_, *enc, fmt::format("{}_block{}", prefix, idx), cin, cout, options);
      skips.push_back(cout);
    }
  }
  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t res = c.img_resolution >> level;
    const std::string prefix = fmt::format("{}x{}", res, res);
    if (level == levels - 1) {
      UNetBlockOptions with_attention = block;
      with_attention.attention = true;
      add_block(decoder_, *dec, prefix + "_in0", cout, cout, with_attention);
      add_block(decoder_, *dec, prefix + "_in1", cout, cout, block);
    } else {
      UNetBlockOptions up = block;
      up.up = true;
      add_block(decoder_, *dec, prefix + "_up", cout, cout, up);
    }
    for (int64_t idx = 0; idx <= c.num_blocks; ++idx) {
      const int64_t cin = cout + skips.back();
      skips.pop_back();
      cout = c.model_channels * c.channel_mult[level];
      UNetBlockOptions options = block;
      options.attention = idx == c.num_blocks && has_attention_at(c.attn_resolutions, res);
      add_block(decoder_, *dec, fmt::format("{}_block{}", prefix, idx), cin, cout, options);
    }
    if (c.decoder_type == "skip" || level == 0) {
      if (c.decoder_type == "skip" && level < levels - 1) {
        Conv2d::Options aux_up = resample_only;
        aux_up.up = true;
        add_conv(decoder_, *dec, prefix + "_aux_up", Role::aux_up, c.out_channels, c.out_channels,
                 aux_up, init);
      }
      decoder_.push_back(
          {Role::aux_norm, nullptr, nullptr,
           dec->add(prefix + "_aux_norm", std::make_shared<GroupNorm>(cout, 32, 4, 1e-6))});
      add_conv(decoder_, *dec, prefix + "_aux_conv", Role::aux_conv, cout, c.out_channels, conv3,
               init_zero);
    }
  }
}

Tensor SongUNet::embed(const Tensor& noise_labels, const Tensor& class_labels, int64_t batch,
                       Rng* gen) const {
  Tensor emb = positional_ ? positional_->forward(noise_labels) : fourier_->forward(noise_labels);
  // EDM swaps the cos and sin halves for DDPM++ compatibility.
  const int64_t half = emb.size(1) / 2;
  emb = concat({emb.slice(1, half, 2 * half), emb.slice(1, 0, half)}, 1);
  if (map_label_) {
    const Tensor labels =
        prepared_class_labels(class_labels, batch, config_.label_dim, config_.label_dropout,
                              is_training(), gen, emb, "SongUNet");
    emb = emb + map_label_->forward(labels * std::sqrt(static_cast<double>(config_.label_dim)));
  }
  emb = silu(map_layer0_->forward(emb));
  return silu(map_layer1_->forward(emb));
}

Tensor SongUNet::run_encoder(const Tensor& input, const Tensor& noise_labels,
                             const Tensor& class_labels, Rng* gen,
                             std::vector<Tensor>& skips) const {
  const SongUNetConfig& c = config_;
  const int64_t batch = checked_unet_batch(c, input, noise_labels, "SongUNet");
  const Tensor emb = embed(noise_labels.reshape({batch}), class_labels, batch, gen);
  Tensor x = input;
  Tensor aux = input;
  for (const Stage& stage : encoder_) {
    switch (stage.role) {
      case Role::aux_down:
        aux = stage.conv->forward(aux);
        break;
      case Role::aux_skip:
        x = skips.back() = x + stage.conv->forward(aux);
        break;
      case Role::aux_residual:
        x = skips.back() = aux = (x + stage.conv->forward(aux)) * kSqrtHalf;
        break;
      default:
        x = stage.block ? stage.block->forward(x, emb, gen) : stage.conv->forward(x);
        skips.push_back(x);
    }
  }
  return emb;
}

Tensor SongUNet::encode(const Tensor& input, const Tensor& noise_labels, const Tensor& class_labels,
                        Rng* gen) const {
  std::vector<Tensor> skips;
  run_encoder(input, noise_labels, class_labels, gen, skips);
  return skips.back();
}

Tensor SongUNet::forward(const Tensor& input, const Tensor& noise_labels,
                         const Tensor& class_labels, Rng* gen) const {
  std::vector<Tensor> skips;
  const Tensor emb = run_encoder(input, noise_labels, class_labels, gen, skips);
  Tensor x = skips.back();
  Tensor aux, tmp;
  for (const Stage& stage : decoder_) {
    switch (stage.role) {
      case Role::aux_up:
        aux = stage.conv->forward(aux);
        break;
      case Role::aux_norm:
        tmp = stage.norm->forward_silu(x);  // aux_norm, then SiLU before aux_conv (EDM)
        break;
      case Role::aux_conv:
        tmp = stage.conv->forward(tmp);
        aux = aux.defined() ? tmp + aux : tmp;
        break;
      default:
        if (x.size(1) != stage.block->in_channels) {
          x = concat({x, skips.back()}, 1);
          skips.pop_back();
        }
        x = stage.block->forward(x, emb, gen);
    }
  }
  return aux;
}

}  // namespace onestep::nn
