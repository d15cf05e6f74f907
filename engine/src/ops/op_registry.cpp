#include "onestep/engine/op_registry.h"

namespace onestep {

const std::vector<std::string>& differentiable_ops() {
  static const std::vector<std::string> ops = {
      // elementwise
      "add", "sub", "mul", "div", "neg", "affine", "pow", "square", "reciprocal", "exp", "log",
      "sin", "cos", "sqrt", "rsqrt", "abs", "clamp", "minimum", "maximum", "where", "sigmoid",
      "softplus", "tanh", "silu", "relu",
      // reductions
      "sum", "mean", "amax", "amin", "var", "sum_to",
      // linear algebra and convolution
      "matmul", "linear", "conv2d", "avg_pool2d", "upsample_nearest2d",
      // normalisation and softmax
      "group_norm", "group_norm_silu", "softmax", "log_softmax",
      // shape
      "concat", "split", "stack", "reshape", "permute", "transpose", "slice", "select", "expand",
      "unsqueeze", "squeeze", "flatten", "index_select", "contiguous", "clone", "to_dtype",
      // stochastic and losses
      "dropout", "mse_loss", "bce_with_logits"};
  return ops;
}

}  // namespace onestep
