#include "onestep/nn/dhariwal_unet.h"

#include <cmath>

#include "onestep/engine.h"
#include "unet_common.h"

namespace onestep::nn {

namespace {
constexpr int64_t kChannelsPerHead = 64;
}  // namespace

void DhariwalUNetConfig::validate() const {
  check_unet_settings(*this, "DhariwalUNet");
}

DhariwalUNet::DhariwalUNet(const DhariwalUNetConfig& config, Rng& gen) : ConfiguredNet(config) {
  config_.validate();
  const DhariwalUNetConfig& c = config_;
  const int64_t emb_channels = c.model_channels * c.channel_mult_emb;
  const double sqrt_third = std::sqrt(1.0 / 3.0);
  const Init init{InitMode::kaiming_uniform, sqrt_third, sqrt_third};
  const Init init_zero{InitMode::kaiming_uniform, 0.0, 0.0};
  UNetBlockOptions block;
  block.emb_channels = emb_channels;
  block.dropout = c.dropout;
  block.skip_scale = 1.0;
  block.eps = 1e-5;
  block.resample_proj = false;
  block.adaptive_scale = true;
  block.init = block.init_attn = init;
  block.init_zero = init_zero;

  map_noise_ = register_module("map_noise",
                               std::make_shared<PositionalEmbedding>(c.model_channels, 10000, false));
  if (c.augment_dim > 0)
    map_augment_ = register_module(
        "map_augment",
        std::make_shared<Linear>(c.augment_dim, c.model_channels, false, init_zero, gen));
  map_layer0_ = register_module(
      "map_layer0", std::make_shared<Linear>(c.model_channels, emb_channels, true, init, gen));
  map_layer1_ = register_module(
      "map_layer1", std::make_shared<Linear>(emb_channels, emb_channels, true, init, gen));
  if (c.label_dim > 0) {
    const Init label_init{InitMode::kaiming_normal,
                          std::sqrt(static_cast<double>(c.label_dim)), 0.0};
    map_label_ = register_module(
        "map_label", std::make_shared<Linear>(c.label_dim, emb_channels, false, label_init, gen));
  }

  auto enc = register_module("enc", std::make_shared<ModuleDict>());
  auto dec = register_module("dec", std::make_shared<ModuleDict>());
  // One head per 64 channels: blocks narrower than 64 channels have no attention (EDM).
  auto options_for = [&](int64_t cout, bool attention) {
    UNetBlockOptions options = block;
    options.num_heads = cout / kChannelsPerHead;
    options.attention = attention && options.num_heads > 0;
    return options;
  };
  auto add_block = [&](std::vector<std::shared_ptr<UNetBlock>>& blocks, ModuleDict& dict,
                       const std::string& name, int64_t cin, int64_t cout,
                       const UNetBlockOptions& options) {
    blocks.push_back(dict.add(name, std::make_shared<UNetBlock>(cin, cout, options, gen)));
  };

  const int64_t levels = static_cast<int64_t>(c.channel_mult.size());
  int64_t cout = c.in_channels;
  std::vector<int64_t> skips;
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t res = c.img_resolution >> level;
    const std::string prefix = fmt::format("{}x{}", res, res);
    const int64_t width = c.model_channels * c.channel_mult[static_cast<size_t>(level)];
    if (level == 0) {
      Conv2d::Options conv3;
      input_conv_ = enc->add(prefix + "_conv", std::make_shared<Conv2d>(cout, width, conv3, init, gen));
      cout = width;
    } else {
      UNetBlockOptions down = options_for(cout, false);
      down.down = true;
      add_block(encoder_, *enc, prefix + "_down", cout, cout, down);
    }
    skips.push_back(cout);
    for (int64_t idx = 0; idx < c.num_blocks; ++idx) {
      add_block(encoder_, *enc, fmt::format("{}_block{}", prefix, idx), cout, width,
                options_for(width, has_attention_at(c.attn_resolutions, res)));
      cout = width;
      skips.push_back(cout);
    }
  }
  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t res = c.img_resolution >> level;
    const std::string prefix = fmt::format("{}x{}", res, res);
    const int64_t width = c.model_channels * c.channel_mult[static_cast<size_t>(level)];
    if (level == levels - 1) {
      add_block(decoder_, *dec, prefix + "_in0", cout, cout, options_for(cout, true));
      add_block(decoder_, *dec, prefix + "_in1", cout, cout, options_for(cout, false));
    } else {
      UNetBlockOptions up = options_for(cout, false);
      up.up = true;
      add_block(decoder_, *dec, prefix + "_up", cout, cout, up);
    }
    for (int64_t idx = 0; idx <= c.num_blocks; ++idx) {
      const int64_t cin = cout + skips.back();
      skips.pop_back();
      add_block(decoder_, *dec, fmt::format("{}_block{}", prefix, idx), cin, width,
                options_for(width, has_attention_at(c.attn_resolutions, res)));
      cout = width;
    }
  }
  out_norm_ = register_module("out_norm", std::make_shared<GroupNorm>(cout, 32, 4, 1e-5));
  Conv2d::Options conv3;
  out_conv_ = register_module("out_conv",
                              std::make_shared<Conv2d>(cout, c.out_channels, conv3, init_zero, gen));
}

Tensor DhariwalUNet::embed(const Tensor& noise_labels, const Tensor& class_labels, int64_t batch,
                           Rng* gen) const {
  // map_augment is skipped: EDM's samplers pass no augmentation labels, and neither does
  // distillation.
  Tensor emb = silu(map_layer0_->forward(map_noise_->forward(noise_labels)));
  emb = map_layer1_->forward(emb);
  if (map_label_) {
    const Tensor labels =
        prepared_class_labels(class_labels, batch, config_.label_dim, config_.label_dropout,
                              is_training(), gen, emb, "DhariwalUNet");
    emb = emb + map_label_->forward(labels);
  }
  return silu(emb);
}

Tensor DhariwalUNet::run_encoder(const Tensor& input, const Tensor& noise_labels,
                                 const Tensor& class_labels, Rng* gen,
                                 std::vector<Tensor>& skips) const {
  const DhariwalUNetConfig& c = config_;
  const int64_t batch = checked_unet_batch(c, input, noise_labels, "DhariwalUNet");
  const Tensor emb = embed(noise_labels.reshape({batch}), class_labels, batch, gen);
  Tensor x = input_conv_->forward(input);
  skips.push_back(x);
  for (const auto& block : encoder_) {
    x = block->forward(x, emb, gen);
    skips.push_back(x);
  }
  return emb;
}

Tensor DhariwalUNet::encode(const Tensor& input, const Tensor& noise_labels,
                            const Tensor& class_labels, Rng* gen) const {
  std::vector<Tensor> skips;
  run_encoder(input, noise_labels, class_labels, gen, skips);
  return skips.back();
}

Tensor DhariwalUNet::forward(const Tensor& input, const Tensor& noise_labels,
                             const Tensor& class_labels, Rng* gen) const {
  std::vector<Tensor> skips;
  const Tensor emb = run_encoder(input, noise_labels, class_labels, gen, skips);
  Tensor x = skips.back();
  for (const auto& block : decoder_) {
    if (x.size(1) != block->in_channels) {
      x = concat({x, skips.back()}, 1);
      skips.pop_back();
    }
    x = block->forward(x, emb, gen);
  }
  return out_conv_->forward(out_norm_->forward_silu(x));
}

}  // namespace onestep::nn
