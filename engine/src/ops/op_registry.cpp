#include "onestep/engine/op_registry.h"

#include <mutex>
#include <set>

#include "onestep/engine/error.h"

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
      "to_device",
      // stochastic and losses
      "dropout", "mse_loss", "bce_with_logits"};
  return ops;
}

namespace {

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::set<std::string>& user_ops() {
  static std::set<std::string> ops;
  return ops;
}

}  // namespace

void register_differentiable_op(const std::string& name) {
  ONESTEP_CHECK(!name.empty(), "register_differentiable_op: empty name");
  const std::lock_guard<std::mutex> lock(registry_mutex());
  user_ops().insert(name);
}

bool is_registered_op(const std::string& name) {
  static const std::set<std::string> engine(differentiable_ops().begin(),
                                            differentiable_ops().end());
  if (engine.count(name)) return true;
  const std::lock_guard<std::mutex> lock(registry_mutex());
  return user_ops().count(name) > 0;
}

}  // namespace onestep
