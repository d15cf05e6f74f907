#include "onestep/nn/unet_block.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::nn {

UNetBlock::UNetBlock(int64_t in, int64_t out, const UNetBlockOptions& o, Rng& gen)
    : in_channels(in),
      out_channels(out),
      num_heads(o.attention ? o.num_heads : 0),
      dropout(o.dropout),
      skip_scale(o.skip_scale),
      adaptive_scale(o.adaptive_scale) {
  ONESTEP_CHECK(!o.attention || (o.num_heads >= 1 && out % o.num_heads == 0),
                "UNetBlock: {} channels do not split into {} attention heads", out, o.num_heads);
  norm0 = register_module("norm0", std::make_shared<GroupNorm>(in, 32, 4, o.eps));
  Conv2d::Options conv3;
  conv3.kernel = 3;
  Conv2d::Options resampling = conv3;
  resampling.up = o.up;
  resampling.down = o.down;
  resampling.resample_filter = o.resample_filter;
  conv0 = register_module("conv0", std::make_shared<Conv2d>(in, out, resampling, o.init, gen));
  affine = register_module(
      "affine", std::make_shared<Linear>(o.emb_channels, adaptive_scale ? 2 * out : out, true,
                                         o.init, gen));
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(out, 32, 4, o.eps));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(out, out, conv3, o.init_zero, gen));
  if (out != in || o.up || o.down) {
    Conv2d::Options skip_options = resampling;
    skip_options.kernel = o.resample_proj || out != in ? 1 : 0;
    skip = register_module("skip", std::make_shared<Conv2d>(in, out, skip_options, o.init, gen));
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
  if (adaptive_scale) {
    const Tensor scale = params.slice(1, 0, out_channels);
    const Tensor shift = params.slice(1, out_channels, 2 * out_channels);
    x = silu(shift + norm1->forward(x) * (scale + 1.0));
  } else {
    x = norm1->forward_silu(x + params);
  }
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

}  // namespace onestep::nn
