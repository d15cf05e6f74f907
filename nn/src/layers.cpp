#include "onestep/nn/layers.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::nn {

Tensor weight_init(const Shape& shape, InitMode mode, int64_t fan_in, int64_t fan_out,
                   Rng& gen) {
  ONESTEP_CHECK(fan_in > 0 && fan_out > 0, "weight_init: fans must be positive, got {} and {}",
                fan_in, fan_out);
  const double in = static_cast<double>(fan_in), out = static_cast<double>(fan_out);
  switch (mode) {
    case InitMode::xavier_uniform:
      return (rand(shape, gen) * 2.0 - 1.0) * std::sqrt(6.0 / (in + out));
    case InitMode::xavier_normal:
      return randn(shape, gen) * std::sqrt(2.0 / (in + out));
    case InitMode::kaiming_uniform:
      return (rand(shape, gen) * 2.0 - 1.0) * std::sqrt(3.0 / in);
    case InitMode::kaiming_normal:
      return randn(shape, gen) * std::sqrt(1.0 / in);
  }
  ONESTEP_FAIL("weight_init: unknown mode");
}

Linear::Linear(int64_t in, int64_t out, bool with_bias, const Init& init, Rng& gen)
    : in_features(in), out_features(out) {
  weight =
      register_parameter("weight", weight_init({out, in}, init.mode, in, out, gen) * init.weight);
  if (with_bias)
    bias = register_parameter("bias", weight_init({out}, init.mode, in, out, gen) * init.bias);
}

Tensor Linear::forward(const Tensor& x) const {
  return linear(x, weight, bias);
}

Conv2d::Conv2d(int64_t in, int64_t out, const Options& o, const Init& init, Rng& gen)
    : in_channels(in), out_channels(out), kernel(o.kernel), up(o.up), down(o.down) {
  ONESTEP_CHECK(!(up && down), "Conv2d: up and down are exclusive");
  ONESTEP_CHECK(kernel >= 0, "Conv2d: kernel must be >= 0, got {}", kernel);
  ONESTEP_CHECK(o.resample_filter == std::vector<double>({1, 1}),
                "Conv2d: only the [1,1] resampling filter (DDPM++) is supported, got [{}]",
                fmt::join(o.resample_filter, ","));
  if (kernel > 0) {
    const int64_t fan_in = in * kernel * kernel, fan_out = out * kernel * kernel;
    weight = register_parameter(
        "weight",
        weight_init({out, in, kernel, kernel}, init.mode, fan_in, fan_out, gen) * init.weight);
    if (o.bias)
      bias = register_parameter("bias",
                                weight_init({out}, init.mode, fan_in, fan_out, gen) * init.bias);
  }
  // EDM stores outer(f, f) / sum(f)^2 as a buffer whenever the layer resamples.
  if (up || down) resample_filter = register_buffer("resample_filter", full({1, 1, 2, 2}, 0.25));
}

Tensor Conv2d::forward(const Tensor& x) const {
  Tensor h = x;
  if (up) h = upsample_nearest2d(h);
  if (down) h = avg_pool2d(h);
  if (weight.defined())
    h = conv2d(h, weight.to(h.dtype()), bias.defined() ? bias.to(h.dtype()) : bias, 1, kernel / 2);
  return h;
}

GroupNorm::GroupNorm(int64_t channels, int64_t num_groups, int64_t min_channels_per_group,
                     double eps_)
    : groups(std::min(num_groups, channels / min_channels_per_group)), eps(eps_) {
  ONESTEP_CHECK(groups >= 1 && channels % groups == 0,
                "GroupNorm: {} channels cannot form min({}, {}/{}) groups", channels, num_groups,
                channels, min_channels_per_group);
  weight = register_parameter("weight", ones({channels}));
  bias = register_parameter("bias", zeros({channels}));
}

Tensor GroupNorm::forward(const Tensor& x) const {
  return group_norm(x, groups, weight.to(x.dtype()), bias.to(x.dtype()), eps);
}

Tensor GroupNorm::forward_silu(const Tensor& x) const {
  return group_norm_silu(x, groups, weight.to(x.dtype()), bias.to(x.dtype()), eps);
}

PositionalEmbedding::PositionalEmbedding(int64_t channels, int64_t max_pos, bool endpoint_)
    : num_channels(channels), max_positions(max_pos), endpoint(endpoint_) {
  ONESTEP_CHECK(channels >= 2 && channels % 2 == 0 && channels / 2 - (endpoint ? 1 : 0) > 0,
                "PositionalEmbedding: need an even channel count >= {}, got {}", endpoint ? 4 : 2,
                channels);
}

Tensor PositionalEmbedding::forward(const Tensor& x) const {
  const int64_t half = num_channels / 2;
  const Tensor exponents = arange(0, static_cast<double>(half), 1, x.dtype(), x.device()) *
                           (1.0 / static_cast<double>(half - (endpoint ? 1 : 0)));
  // (1 / max_positions)^e = exp(-e ln max_positions)
  const Tensor freqs = exp(exponents * -std::log(static_cast<double>(max_positions)));
  const Tensor angles = x.reshape({-1, 1}) * freqs.reshape({1, half});
  return concat({cos(angles), sin(angles)}, 1);
}

FourierEmbedding::FourierEmbedding(int64_t channels, double scale, Rng& gen) {
  ONESTEP_CHECK(channels >= 2 && channels % 2 == 0,
                "FourierEmbedding: need an even channel count, got {}", channels);
  freqs = register_buffer("freqs", randn({channels / 2}, gen) * scale);
}

Tensor FourierEmbedding::forward(const Tensor& x) const {
  constexpr double kTwoPi = 6.283185307179586476925;
  const Tensor angles = x.reshape({-1, 1}) * (freqs.to(x.dtype()) * kTwoPi).reshape({1, -1});
  return concat({cos(angles), sin(angles)}, 1);
}

}  // namespace onestep::nn
