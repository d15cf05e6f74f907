#include "onestep/nn/song_unet.h"

#include <algorithm>
#include <cmath>

#include "onestep/engine.h"

namespace onestep::nn {

UNetBlock::UNetBlock(int64_t in, int64_t out, const UNetBlockOptions& o, Rng& gen)
    : in_channels(in),
      out_channels(out),
      num_heads(o.attention ? o.num_heads : 0),
      dropout(o.dropout),
      skip_scale(o.skip_scale) {
  ONESTEP_CHECK(!o.attention || (o.num_heads >= 1 && out % o.num_heads == 0),
                "UNetBlock: {} channels do not split into {} attention heads", out, o.num_heads);
  norm0 = register_module("norm0", std::make_shared<GroupNorm>(in, 32, 4, o.eps));
  Conv2d::Options conv3;
  conv3.kernel = 3;
  Conv2d::Options resampling = conv3;
  resampling.up = o.up;
  resampling.down = o.down;
  conv0 = register_module("conv0", std::make_shared<Conv2d>(in, out, resampling, o.init, gen));
  affine =
      register_module("affine", std::make_shared<Linear>(o.emb_channels, out, true, o.init, gen));
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(out, 32, 4, o.eps));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(out, out, conv3, o.init_zero, gen));
  if (out != in || o.up || o.down) {
    Conv2d::Options pointwise = resampling;
    pointwise.kernel = 1;  // resample_proj=True in DDPM++
    skip = register_module("skip", std::make_shared<Conv2d>(in, out, pointwise, o.init, gen));
  }
  if (num_heads > 0) {
    Conv2d::Options one;
    one.kernel = 1;
    norm2 = register_module("norm2", std::make_shared<GroupNorm>(out, 32, 4, o.eps));
    qkv = register_module("qkv", std::make_shared<Conv2d>(out, out * 3, one, o.init_attn, gen));
    proj = register_module("proj", std::make_shared<Conv2d>(out, out, one, o.init_zero, gen));
  }
}

Tensor UNetBlock::forward(const Tensor& input, const Tensor& emb, Rng* gen) const {
  Tensor x = conv0->forward(norm0->forward_silu(input));
  const Tensor params = affine->forward(emb).unsqueeze(2).unsqueeze(3);
  x = norm1->forward_silu(x + params);
  if (is_training() && dropout > 0) {
    ONESTEP_CHECK(gen != nullptr, "UNetBlock: training with dropout needs a generator");
    x = onestep::dropout(x, dropout, true, *gen);
  }
  x = conv1->forward(x);
  x = (x + (skip ? skip->forward(input) : input)) * skip_scale;

  if (num_heads > 0) {
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t head_channels = C / num_heads;
    // EDM's layout: qkv channels grouped as (head, channel, {q, k, v}), q/k/v fastest.
    const Tensor qkv_out =
        qkv->forward(norm2->forward(x)).reshape({N * num_heads, head_channels, 3, H * W});
    const Tensor q = qkv_out.select(2, 0), k = qkv_out.select(2, 1), v = qkv_out.select(2, 2);
    // w[n, i, j] = softmax_j(q[:, i] . k[:, j] / sqrt(c)): [N*heads, HW, HW]
    const Tensor w = softmax(
        matmul(q.transpose(1, 2), k) * (1.0 / std::sqrt(static_cast<double>(head_channels))), 2);
    // a[n, c, i] = sum_j w[n, i, j] v[n, c, j]
    const Tensor a = matmul(v, w.transpose(1, 2));
    x = (proj->forward(a.reshape({N, C, H, W})) + x) * skip_scale;
  }
  return x;
}

void SongUNetConfig::validate() const {
  ONESTEP_CHECK(img_resolution >= 1 && in_channels >= 1 && out_channels >= 1 && model_channels >= 1,
                "SongUNet: resolution, channels and model_channels must be positive");
  ONESTEP_CHECK(label_dim >= 0 && augment_dim >= 0,
                "SongUNet: label_dim and augment_dim must be >= 0");
  // Caps far above any real network (EDM's largest has 192 channels, mult 4, 256 px) keep the
  // products of two settings inside int64 and a damaged config from asking for petabytes.
  constexpr int64_t kMaxSize = int64_t{1} << 16, kMaxFactor = int64_t{1} << 10;
  ONESTEP_CHECK(img_resolution <= kMaxSize && in_channels <= kMaxSize && out_channels <= kMaxSize &&
                    model_channels <= kMaxSize && label_dim <= (int64_t{1} << 20) &&
                    augment_dim <= kMaxSize,
                "SongUNet: a size setting exceeds its limit (resolution, channels, "
                "model_channels, augment_dim <= {}; label_dim <= {})",
                kMaxSize, int64_t{1} << 20);
  ONESTEP_CHECK(!channel_mult.empty(), "SongUNet: channel_mult is empty");
  ONESTEP_CHECK(channel_mult.size() <= 16, "SongUNet: channel_mult has {} levels (at most 16)",
                channel_mult.size());
  for (int64_t m : channel_mult)
    ONESTEP_CHECK(m >= 1 && m <= kMaxFactor, "SongUNet: channel_mult entries must be in [1, {}]",
                  kMaxFactor);
  ONESTEP_CHECK(num_blocks <= kMaxFactor && channel_mult_emb <= kMaxFactor &&
                    channel_mult_noise <= kMaxFactor,
                "SongUNet: num_blocks, channel_mult_emb and channel_mult_noise must be <= {}",
                kMaxFactor);
  ONESTEP_CHECK(img_resolution % (int64_t{1} << (channel_mult.size() - 1)) == 0,
                "SongUNet: channel_mult has {} levels, so the resolution halves {} times, but {} "
                "does not",
                channel_mult.size(), channel_mult.size() - 1, img_resolution);
  ONESTEP_CHECK(num_blocks >= 1 && channel_mult_emb >= 1 && channel_mult_noise >= 1,
                "SongUNet: num_blocks, channel_mult_emb and channel_mult_noise must be >= 1");
  ONESTEP_CHECK(dropout >= 0 && dropout < 1 && label_dropout >= 0 && label_dropout < 1,
                "SongUNet: dropout probabilities must be in [0, 1)");
  ONESTEP_CHECK(embedding_type == "positional" || embedding_type == "fourier",
                "SongUNet: embedding_type must be positional or fourier, got '{}'", embedding_type);
  ONESTEP_CHECK(encoder_type == "standard",
                "SongUNet: encoder_type '{}' is not supported (only 'standard', DDPM++)",
                encoder_type);
  ONESTEP_CHECK(decoder_type == "standard",
                "SongUNet: decoder_type '{}' is not supported (only 'standard', DDPM++)",
                decoder_type);
  ONESTEP_CHECK(resample_filter == std::vector<double>({1, 1}),
                "SongUNet: resample_filter [{}] is not supported (only [1,1], DDPM++)",
                fmt::join(resample_filter, ","));
  // GroupNorm needs at least 4 channels per group somewhere; catch it here with a clear message.
  ONESTEP_CHECK(model_channels >= 4, "SongUNet: model_channels must be >= 4 for GroupNorm, got {}",
                model_channels);
}

SongUNet::SongUNet(const SongUNetConfig& config, Rng& gen) : ConfiguredNet(config) {
  config_.validate();
  const SongUNetConfig& c = config_;
  const int64_t emb_channels = c.model_channels * c.channel_mult_emb;
  const int64_t noise_channels = c.model_channels * c.channel_mult_noise;
  UNetBlockOptions block;
  block.emb_channels = emb_channels;
  block.dropout = c.dropout;
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
  auto has_attention = [&](int64_t res) {
    return std::find(c.attn_resolutions.begin(), c.attn_resolutions.end(), res) !=
           c.attn_resolutions.end();
  };
  auto add_block = [&](std::vector<Stage>& stages, ModuleDict& dict, const std::string& name,
                       int64_t cin, int64_t cout, UNetBlockOptions options) {
    stages.push_back({name, dict.add(name, std::make_shared<UNetBlock>(cin, cout, options, gen)),
                      nullptr, nullptr});
  };

  const int64_t levels = static_cast<int64_t>(c.channel_mult.size());
  int64_t cout = c.in_channels;
  std::vector<int64_t> skips;
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t res = c.img_resolution >> level;
    const std::string prefix = fmt::format("{}x{}", res, res);
    if (level == 0) {
      const int64_t cin = cout;
      cout = c.model_channels;
      Conv2d::Options conv3;
      encoder_.push_back(
          {prefix + "_conv", nullptr,
           enc->add(prefix + "_conv", std::make_shared<Conv2d>(cin, cout, conv3, init, gen)),
           nullptr});
    } else {
      UNetBlockOptions down = block;
      down.down = true;
      add_block(encoder_, *enc, prefix + "_down", cout, cout, down);
    }
    skips.push_back(cout);
    for (int64_t idx = 0; idx < c.num_blocks; ++idx) {
      const int64_t cin = cout;
      cout = c.model_channels * c.channel_mult[level];
      UNetBlockOptions options = block;
      options.attention = has_attention(res);
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
      options.attention = idx == c.num_blocks && has_attention(res);
      add_block(decoder_, *dec, fmt::format("{}_block{}", prefix, idx), cin, cout, options);
    }
    if (level == 0) {
      decoder_.push_back(
          {prefix + "_aux_norm", nullptr, nullptr,
           dec->add(prefix + "_aux_norm", std::make_shared<GroupNorm>(cout, 32, 4, 1e-6))});
      Conv2d::Options conv3;
      decoder_.push_back(
          {prefix + "_aux_conv", nullptr,
           dec->add(prefix + "_aux_conv",
                    std::make_shared<Conv2d>(cout, c.out_channels, conv3, init_zero, gen)),
           nullptr});
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
    Tensor labels = class_labels.defined()
                        ? class_labels.to(emb.dtype())
                        : zeros({batch, config_.label_dim}, emb.dtype(), emb.device());
    ONESTEP_CHECK(
        labels.dim() == 2 && labels.size(0) == batch && labels.size(1) == config_.label_dim,
        "SongUNet: class labels must be [{}, {}], got {}", batch, config_.label_dim,
        shape_str(labels.shape()));
    if (is_training() && config_.label_dropout > 0) {
      ONESTEP_CHECK(gen != nullptr, "SongUNet: training with label dropout needs a generator");
      labels = labels *
               ge(rand({batch, 1}, *gen, labels.dtype(), labels.device()), config_.label_dropout);
    }
    emb = emb + map_label_->forward(labels * std::sqrt(static_cast<double>(config_.label_dim)));
  }
  emb = silu(map_layer0_->forward(emb));
  return silu(map_layer1_->forward(emb));
}

Tensor SongUNet::run_encoder(const Tensor& input, const Tensor& noise_labels,
                             const Tensor& class_labels, Rng* gen,
                             std::vector<Tensor>& skips) const {
  const SongUNetConfig& c = config_;
  ONESTEP_CHECK(input.dim() == 4 && input.size(1) == c.in_channels &&
                    input.size(2) == c.img_resolution && input.size(3) == c.img_resolution,
                "SongUNet: input must be [N, {}, {}, {}], got {}", c.in_channels, c.img_resolution,
                c.img_resolution, shape_str(input.shape()));
  const int64_t batch = input.size(0);
  ONESTEP_CHECK(noise_labels.numel() == batch, "SongUNet: {} noise labels for a batch of {}",
                noise_labels.numel(), batch);
  const Tensor emb = embed(noise_labels.reshape({batch}), class_labels, batch, gen);
  Tensor x = input;
  for (const Stage& stage : encoder_) {
    x = stage.block ? stage.block->forward(x, emb, gen) : stage.conv->forward(x);
    skips.push_back(x);
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
    if (stage.norm) {
      tmp = stage.norm->forward_silu(x);  // aux_norm, then SiLU before aux_conv (EDM)
    } else if (stage.conv) {
      tmp = stage.conv->forward(tmp);
      aux = aux.defined() ? tmp + aux : tmp;
    } else {
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
