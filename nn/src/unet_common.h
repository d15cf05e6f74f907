#pragma once
// What SongUNet and DhariwalUNet share: the checks of the settings both configs name alike, and
// the class labels as the label embedding takes them.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "onestep/engine.h"

namespace onestep::nn {

// Caps far above any real network (EDM's largest has 192 channels, mult 4, 256 px) keep the
// products of two settings inside int64 and a damaged config from asking for petabytes.
constexpr int64_t kMaxUNetSize = int64_t{1} << 16;
constexpr int64_t kMaxUNetFactor = int64_t{1} << 10;

template <class Config>
void check_unet_settings(const Config& c, const char* who) {
  ONESTEP_CHECK(c.img_resolution >= 1 && c.in_channels >= 1 && c.out_channels >= 1 &&
                    c.model_channels >= 1,
                "{}: resolution, channels and model_channels must be positive", who);
  ONESTEP_CHECK(c.label_dim >= 0 && c.augment_dim >= 0,
                "{}: label_dim and augment_dim must be >= 0", who);
  ONESTEP_CHECK(c.img_resolution <= kMaxUNetSize && c.in_channels <= kMaxUNetSize &&
                    c.out_channels <= kMaxUNetSize && c.model_channels <= kMaxUNetSize &&
                    c.label_dim <= (int64_t{1} << 20) && c.augment_dim <= kMaxUNetSize,
                "{}: a size setting exceeds its limit (resolution, channels, "
                "model_channels, augment_dim <= {}; label_dim <= {})",
                who, kMaxUNetSize, int64_t{1} << 20);
  ONESTEP_CHECK(!c.channel_mult.empty(), "{}: channel_mult is empty", who);
  ONESTEP_CHECK(c.channel_mult.size() <= 16, "{}: channel_mult has {} levels (at most 16)", who,
                c.channel_mult.size());
  for (int64_t m : c.channel_mult)
    ONESTEP_CHECK(m >= 1 && m <= kMaxUNetFactor, "{}: channel_mult entries must be in [1, {}]",
                  who, kMaxUNetFactor);
  ONESTEP_CHECK(c.num_blocks >= 1 && c.num_blocks <= kMaxUNetFactor && c.channel_mult_emb >= 1 &&
                    c.channel_mult_emb <= kMaxUNetFactor,
                "{}: num_blocks and channel_mult_emb must be in [1, {}]", who, kMaxUNetFactor);
  ONESTEP_CHECK(c.img_resolution % (int64_t{1} << (c.channel_mult.size() - 1)) == 0,
                "{}: channel_mult has {} levels, so the resolution halves {} times, but {} "
                "does not",
                who, c.channel_mult.size(), c.channel_mult.size() - 1, c.img_resolution);
  ONESTEP_CHECK(c.dropout >= 0 && c.dropout < 1 && c.label_dropout >= 0 && c.label_dropout < 1,
                "{}: dropout probabilities must be in [0, 1)", who);
  // GroupNorm needs at least 4 channels per group somewhere; catch it here with a clear message.
  ONESTEP_CHECK(c.model_channels >= 4, "{}: model_channels must be >= 4 for GroupNorm, got {}", who,
                c.model_channels);
}

// Whether a level of resolution `res` has self-attention (listed in attn_resolutions).
inline bool has_attention_at(const std::vector<int64_t>& attn_resolutions, int64_t res) {
  return std::find(attn_resolutions.begin(), attn_resolutions.end(), res) !=
         attn_resolutions.end();
}

// Checks a U-Net's input [N, in_channels, R, R] and its N noise labels; returns N.
template <class Config>
int64_t checked_unet_batch(const Config& c, const Tensor& input, const Tensor& noise_labels,
                           const char* who) {
  ONESTEP_CHECK(input.dim() == 4 && input.size(1) == c.in_channels &&
                    input.size(2) == c.img_resolution && input.size(3) == c.img_resolution,
                "{}: input must be [N, {}, {}, {}], got {}", who, c.in_channels, c.img_resolution,
                c.img_resolution, shape_str(input.shape()));
  const int64_t batch = input.size(0);
  ONESTEP_CHECK(noise_labels.numel() == batch, "{}: {} noise labels for a batch of {}", who,
                noise_labels.numel(), batch);
  return batch;
}

// The [batch, label_dim] labels the label embedding takes: `class_labels` in `like`'s dtype, or
// zeros when undefined (unconditional use of a conditional network); while training with label
// dropout, each row is zeroed with probability `label_dropout` (classifier-free guidance).
inline Tensor prepared_class_labels(const Tensor& class_labels, int64_t batch, int64_t label_dim,
                                    double label_dropout, bool training, Rng* gen,
                                    const Tensor& like, const char* who) {
  Tensor labels = class_labels.defined() ? class_labels.to(like.dtype())
                                         : zeros({batch, label_dim}, like.dtype(), like.device());
  ONESTEP_CHECK(labels.dim() == 2 && labels.size(0) == batch && labels.size(1) == label_dim,
                "{}: class labels must be [{}, {}], got {}", who, batch, label_dim,
                shape_str(labels.shape()));
  if (training && label_dropout > 0) {
    ONESTEP_CHECK(gen != nullptr, "{}: training with label dropout needs a generator", who);
    labels = labels * ge(rand({batch, 1}, *gen, labels.dtype(), labels.device()), label_dropout);
  }
  return labels;
}

}  // namespace onestep::nn
