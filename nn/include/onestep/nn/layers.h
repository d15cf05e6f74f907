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

// A convolution with "same" padding (kernel / 2), optionally preceded by 2x upsampling or
// downsampling with EDM's [1,1] resampling filter (nearest-neighbour up, 2x2 average down).
// kernel 0 means resampling only. EDM keeps the filter as a buffer `resample_filter` of shape
// [1, 1, 2, 2], so checkpoints carry it; only the [1,1] filter (DDPM++) is supported.
class Conv2d : public Module {
 public:
  struct Options {
    int64_t kernel = 3;
    bool bias = true;
    bool up = false;
    bool down = false;
    std::vector<double> resample_filter = {1, 1};
  };
  Conv2d(int64_t in_channels, int64_t out_channels, const Options& options, const Init& init,
         Rng& gen);
  Tensor forward(const Tensor& x) const;  // [N, in, H, W] -> [N, out, H', W']
  int64_t in_channels, out_channels, kernel;
  bool up, down;
  Tensor weight, bias, resample_filter;
};

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
