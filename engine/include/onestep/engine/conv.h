#pragma once
// Convolution and resampling on NCHW tensors.

#include "onestep/engine/tensor.h"

namespace onestep {

// x: [N, C, H, W], weight: [O, C, kh, kw], bias: [O] or undefined -> [N, O, Ho, Wo]
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0);
// 2x2 average with stride 2: [N, C, H, W] -> [N, C, H/2, W/2]; H and W must be even.
Tensor avg_pool2d(const Tensor& x);
// Nearest-neighbour x2: [N, C, H, W] -> [N, C, 2H, 2W].
Tensor upsample_nearest2d(const Tensor& x);

}  // namespace onestep
