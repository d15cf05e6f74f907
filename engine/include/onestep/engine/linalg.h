#pragma once

#include "onestep/engine/tensor.h"

namespace onestep {

// a: [..., M, K], b: [..., K, N] -> [..., M, N]; batch dims broadcast. Both at least 2-D.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: [..., in], weight: [out, in], bias: [out] or undefined -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace onestep
