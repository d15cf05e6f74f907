#pragma once
// A learned discriminator head on the fake network's encoder bottleneck (`--disc-head learned`).
// The default logit, the channel mean of the bottleneck (SiDA, the official Uni-Instruct code),
// has no parameters of its own: on Fashion-MNIST it stays near chance (docs/DISTILL.md). DMD2
// reads its logit through a few convolutions of its own instead; this is that head, sized for
// onestep's bottlenecks (7x7 on Fashion-MNIST, too small for DMD2's strides):
//   images [N, C, h, w]: conv3x3 -> GroupNorm+SiLU -> conv3x3 -> GroupNorm+SiLU -> conv1x1 -> 1
//                        channel, averaged over positions;
//   points [N, H]:       SiLU -> linear -> SiLU -> linear -> 1.
// Its last layer starts near zero, so the logit starts at chance (r = 1) as the channel mean's
// does not. Trained on the fake network's BCE, alongside it, by an Adam of its own
// (`--lr-disc-head`).

#include <memory>

#include "onestep/nn/layers.h"

namespace onestep::distill {

class DiscriminatorHead : public nn::Module {
 public:
  // feature_shape: one sample's bottleneck, [C, h, w] or [H].
  DiscriminatorHead(const Shape& feature_shape, Rng& gen);
  // [N, ...feature_shape] -> [N].
  Tensor forward(const Tensor& features) const;

 private:
  Shape feature_shape_;
  std::shared_ptr<nn::Conv2d> conv0_, conv1_, out_conv_;
  std::shared_ptr<nn::GroupNorm> norm0_, norm1_;
  std::shared_ptr<nn::Linear> fc0_, out_fc_;
};

}  // namespace onestep::distill
