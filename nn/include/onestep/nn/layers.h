#pragma once
// The layers of EDM's networks (NVlabs/edm training/networks.py), with its parameter names and
// initialisation: Linear, Conv2d with up/down resampling, GroupNorm, noise embeddings.

#include <vector>

#include "onestep/engine/random.h"
#include "onestep/nn/module.h"

namespace onestep::nn {

enum class InitMode { xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal };

// Weight initialisation: the distribution of `mode` for the given fans, times `weight`; biases
// use the same distribution times `bias` (so 0 gives zeros).
struct Init {
  InitMode mode = InitMode::kaiming_normal;
  double weight = 1.0;
  double bias = 0.0;
};

Tensor weight_init(const Shape& shape, InitMode mode, int64_t fan_in, int64_t fan_out,
                   Rng& gen);

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, const Init& init, Rng& gen);
  Tensor forward(const Tensor& x) const;  // [..., in] -> [..., out]
  int64_t in_features, out_features;
  Tensor weight, bias;  // [out, in], [out] or undefined
};

// A convolution with "same" padding (kernel / 2), optionally with 2x upsampling or downsampling
// by EDM's FIR resampling filter f (outer(f, f) / sum(f)^2, kept as the buffer `resample_filter`
// of shape [1, 1, k, k] so checkpoints carry it): [1,1] (DDPM++, ADM) is nearest-neighbour up and
// 2x2 average down; [1,3,3,1] (NCSN++) is the bilinear-like filter of StyleGAN. Up is a transposed
// depthwise convolution with 4 f, down a strided depthwise convolution with f, each applied
// before the convolution; with fused_resample the downsampling follows the convolution and the
// upsampling's padding is shared with it (EDM's fused_resample, used by NCSN++'s residual
// encoder). kernel 0 means resampling only.
class Conv2d : public Module {
 public:
  struct Options {
    int64_t kernel = 3;
    bool bias = true;
    bool up = false;
    bool down = false;
    std::vector<double> resample_filter = {1, 1};
    bool fused_resample = false;
  };
  Conv2d(int64_t in_channels, int64_t out_channels, const Options& options, const Init& init,
         Rng& gen);
  Tensor forward(const Tensor& x) const;  // [N, in, H, W] -> [N, out, H', W']
  int64_t in_channels, out_channels, kernel;
  bool up, down, fused_resample;
  Tensor weight, bias, resample_filter;

 private:
  // [1,1]: resampling by upsample_nearest2d / avg_pool2d, which equal the FIR form exactly.
  bool box_filter_ = true;
};

// Throws onestep::Error unless `filter` is a resampling filter onestep can apply: 2 to 8 finite
// taps, an even count (so that up and down exactly double and halve the size), nonzero sum.
void check_resample_filter(const std::vector<double>& filter, const char* who);

// EDM's FIR resampling of every channel by one filter `f` ([1, 1, k, k]): a strided (2)
// depthwise convolution, and a transposed depthwise convolution with 4 f (stride 2).
Tensor fir_downsample(const Tensor& x, const Tensor& f, int64_t padding);
Tensor fir_upsample(const Tensor& x, const Tensor& f, int64_t padding);

// Group norm with min(num_groups, channels / min_channels_per_group) groups, as in EDM.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t channels, int64_t num_groups = 32, int64_t min_channels_per_group = 4,
            double eps = 1e-5);
  Tensor forward(const Tensor& x) const;
  // silu(forward(x)) in one fused kernel each way.
  Tensor forward_silu(const Tensor& x) const;
  int64_t groups;
  double eps;
  Tensor weight, bias;
};

// DDPM++ noise embedding: [N] -> [N, C] = [cos(x f), sin(x f)], f_i = (1/max_positions)^(i/d),
// d = C/2 - endpoint.
class PositionalEmbedding : public Module {
 public:
  PositionalEmbedding(int64_t num_channels, int64_t max_positions = 10000, bool endpoint = false);
  Tensor forward(const Tensor& x) const;
  int64_t num_channels, max_positions;
  bool endpoint;
};

// NCSN++ noise embedding: [cos(2 pi x f), sin(2 pi x f)] with random frequencies f ~ N(0, scale^2)
// kept as the buffer `freqs`.
class FourierEmbedding : public Module {
 public:
  FourierEmbedding(int64_t num_channels, double scale, Rng& gen);
  Tensor forward(const Tensor& x) const;
  Tensor freqs;
};

}  // namespace onestep::nn
