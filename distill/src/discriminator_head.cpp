#include "onestep/distill/discriminator_head.h"

#include "onestep/engine.h"

namespace onestep::distill {

DiscriminatorHead::DiscriminatorHead(const Shape& feature_shape, Rng& gen)
    : feature_shape_(feature_shape) {
  ONESTEP_CHECK(feature_shape.size() == 1 || feature_shape.size() == 3,
                "discriminator head: the bottleneck must be [C, h, w] or [H] per sample, got {}",
                shape_str(feature_shape));
  for (const int64_t d : feature_shape)
    ONESTEP_CHECK(d >= 1 && d <= (int64_t{1} << 20),
                  "discriminator head: bad bottleneck shape {}", shape_str(feature_shape));
  const nn::Init hidden{nn::InitMode::xavier_uniform, 1.0, 0.0};
  // Small, not zero: a zero last layer would pass no gradient to the layers below it.
  const nn::Init last{nn::InitMode::xavier_uniform, 1e-2, 0.0};
  const int64_t channels = feature_shape[0];
  if (feature_shape.size() == 3) {
    nn::Conv2d::Options conv3;
    conv3.kernel = 3;
    nn::Conv2d::Options conv1;
    conv1.kernel = 1;
    conv0_ = register_module("conv0",
                             std::make_shared<nn::Conv2d>(channels, channels, conv3, hidden, gen));
    norm0_ = register_module("norm0", std::make_shared<nn::GroupNorm>(channels));
    conv1_ = register_module("conv1",
                             std::make_shared<nn::Conv2d>(channels, channels, conv3, hidden, gen));
    norm1_ = register_module("norm1", std::make_shared<nn::GroupNorm>(channels));
    out_conv_ =
        register_module("out", std::make_shared<nn::Conv2d>(channels, 1, conv1, last, gen));
  } else {
    fc0_ = register_module("fc0",
                           std::make_shared<nn::Linear>(channels, channels, true, hidden, gen));
    out_fc_ = register_module("out", std::make_shared<nn::Linear>(channels, 1, true, last, gen));
  }
}

Tensor DiscriminatorHead::forward(const Tensor& features) const {
  Shape expected = {features.dim() > 0 ? features.size(0) : 0};
  expected.insert(expected.end(), feature_shape_.begin(), feature_shape_.end());
  ONESTEP_CHECK(features.dim() >= 1 && features.shape() == expected,
                "discriminator head: features must be [N, {}], got {}",
                shape_str(feature_shape_), shape_str(features.shape()));
  const int64_t n = features.size(0);
  if (conv0_) {
    Tensor h = norm0_->forward_silu(conv0_->forward(features));
    h = norm1_->forward_silu(conv1_->forward(h));
    return mean(out_conv_->forward(h).reshape({n, -1}), {1});
  }
  return out_fc_->forward(silu(fc0_->forward(silu(features)))).reshape({n});
}

}  // namespace onestep::distill
