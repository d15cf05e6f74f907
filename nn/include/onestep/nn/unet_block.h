#pragma once
// EDM's UNetBlock (NVlabs/edm training/networks.py), shared by SongUNet (DDPM++, NCSN++) and
// DhariwalUNet (ADM), with EDM's module names: norm0, conv0, affine, norm1, conv1, skip, and with
// attention norm2, qkv, proj.

#include <memory>
#include <vector>

#include "onestep/nn/layers.h"

namespace onestep::nn {

// The defaults are SongUNet's; DhariwalUNet changes skip_scale, eps, resample_proj,
// adaptive_scale and the initialisation.
struct UNetBlockOptions {
  int64_t emb_channels = 0;
  bool up = false;
  bool down = false;
  bool attention = false;
  int64_t num_heads = 1;
  double dropout = 0.0;
  double skip_scale = 0.7071067811865476;  // sqrt(1/2)
  double eps = 1e-6;
  std::vector<double> resample_filter = {1, 1};
  // A resampling block with equal channel counts gets a 1x1 conv as its skip (DDPM++, NCSN++);
  // false: a weightless resampling of the input (ADM).
  bool resample_proj = true;
  // The embedding sets scale and shift of norm1's output, silu(shift + norm1(x) (scale + 1))
  // (ADM); false: it is added before norm1 (DDPM++, NCSN++).
  bool adaptive_scale = false;
  Init init{InitMode::xavier_uniform, 1.0, 0.0};
  Init init_zero{InitMode::xavier_uniform, 1e-5, 0.0};
  Init init_attn{InitMode::xavier_uniform, 0.4472135954999579, 0.0};  // sqrt(0.2)
};

// Residual block conditioned on the embedding, with optional up/down resampling and optional
// multi-head self-attention.
class UNetBlock : public Module {
 public:
  UNetBlock(int64_t in_channels, int64_t out_channels, const UNetBlockOptions& options, Rng& gen);
  // x: [N, in, H, W], emb: [N, emb_channels] -> [N, out, H', W']
  Tensor forward(const Tensor& x, const Tensor& emb, Rng* gen) const;

  int64_t in_channels, out_channels, num_heads;
  double dropout, skip_scale;
  bool adaptive_scale;
  std::shared_ptr<GroupNorm> norm0, norm1, norm2;
  std::shared_ptr<Conv2d> conv0, conv1, skip, qkv, proj;
  std::shared_ptr<Linear> affine;
};

}  // namespace onestep::nn
