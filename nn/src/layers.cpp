#include "onestep/nn/layers.h"

#include <algorithm>
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

void check_resample_filter(const std::vector<double>& filter, const char* who) {
  double sum = 0;
  bool finite = true;
  for (double v : filter) {
    sum += v;
    finite = finite && std::isfinite(v);
  }
  ONESTEP_CHECK(filter.size() >= 2 && filter.size() <= 8 && filter.size() % 2 == 0 && finite &&
                    sum != 0,
                "{}: resample_filter [{}] must have an even number (2 to 8) of finite taps with a "
                "nonzero sum",
                who, fmt::join(filter, ","));
}

namespace {

// Every channel of x convolved with the single [1, 1, k, k] filter f: the channels become
// batch entries of a one-channel convolution.
Tensor depthwise_conv(const Tensor& x, const Tensor& f, int64_t stride, int64_t padding) {
  const int64_t N = x.size(0), C = x.size(1);
  const Tensor y = conv2d(x.reshape({N * C, 1, x.size(2), x.size(3)}), f, Tensor(), stride, padding);
  return y.reshape({N, C, y.size(2), y.size(3)});
}

// x with a zero after every row and column: [N, C, H, W] -> [N, C, 2H, 2W], x at even indices.
Tensor interleave_zeros(const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const Tensor rows = stack({x, zeros_like(x)}, 4).reshape({N, C, H, 2 * W});
  return stack({rows, zeros_like(rows)}, 3).reshape({N, C, 2 * H, 2 * W});
}

}  // namespace

Tensor fir_downsample(const Tensor& x, const Tensor& f, int64_t padding) {
  return depthwise_conv(x, f, 2, padding);
}

Tensor fir_upsample(const Tensor& x, const Tensor& f, int64_t padding) {
  // conv_transpose2d(x, g, stride 2, padding p) is the correlation of x with zeros inserted
  // (2H - 1 rows) and the flipped g, padded by k - 1 - p; the extra trailing zero row and column
  // of interleave_zeros only add output rows past the end, which are dropped.
  const int64_t k = f.size(3);
  ONESTEP_CHECK(padding <= k - 1, "fir_upsample: padding {} exceeds the filter's {} - 1", padding,
                k);
  std::vector<int64_t> reversed(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) reversed[static_cast<size_t>(i)] = k - 1 - i;
  const Tensor flip = from_vector(reversed, {k}, f.device());
  const Tensor g = index_select(index_select(f, 2, flip), 3, flip) * 4.0;
  const int64_t out_h = 2 * x.size(2) - 2 - 2 * padding + k;
  const int64_t out_w = 2 * x.size(3) - 2 - 2 * padding + k;
  return depthwise_conv(interleave_zeros(x), g, 1, k - 1 - padding)
      .slice(2, 0, out_h)
      .slice(3, 0, out_w);
}

Conv2d::Conv2d(int64_t in, int64_t out, const Options& o, const Init& init, Rng& gen)
    : in_channels(in),
      out_channels(out),
      kernel(o.kernel),
      up(o.up),
      down(o.down),
      fused_resample(o.fused_resample) {
  ONESTEP_CHECK(!(up && down), "Conv2d: up and down are exclusive");
  ONESTEP_CHECK(kernel >= 0, "Conv2d: kernel must be >= 0, got {}", kernel);
  check_resample_filter(o.resample_filter, "Conv2d");
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
  if (up || down) {
    const std::vector<double>& f = o.resample_filter;
    const int64_t k = static_cast<int64_t>(f.size());
    double sum = 0;
    for (double v : f) sum += v;
    std::vector<float> outer;
    for (double a : f)
      for (double b : f) outer.push_back(static_cast<float>(a * b / (sum * sum)));
    resample_filter = register_buffer("resample_filter", from_vector(outer, {1, 1, k, k}));
    box_filter_ = k == 2 && f[0] == f[1];
  }
}

Tensor Conv2d::forward(const Tensor& x) const {
  const Tensor w = weight.defined() ? weight.to(x.dtype()) : Tensor();
  const Tensor b = bias.defined() ? bias.to(x.dtype()) : Tensor();
  const int64_t w_pad = kernel / 2;
  Tensor h = x;
  if (up || down) {
    const Tensor f = resample_filter.to(x.dtype());
    const int64_t f_pad = (f.size(3) - 1) / 2;
    if (fused_resample && w.defined()) {
      // EDM's fused order: up, then the convolution; the convolution, then down.
      if (up) {
        h = fir_upsample(h, f, std::max<int64_t>(f_pad - w_pad, 0));
        return conv2d(h, w, b, 1, std::max<int64_t>(w_pad - f_pad, 0));
      }
      h = fir_downsample(conv2d(h, w, Tensor(), 1, w_pad + f_pad), f, 0);
      return b.defined() ? h + b.reshape({1, -1, 1, 1}) : h;
    }
    if (up) h = box_filter_ ? upsample_nearest2d(h) : fir_upsample(h, f, f_pad);
    if (down) h = box_filter_ ? avg_pool2d(h) : fir_downsample(h, f, f_pad);
  }
  if (w.defined()) h = conv2d(h, w, b, 1, w_pad);
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
