// group_norm, softmax, log_softmax, dropout and the losses, as composites of recorded ops
// (each is its own oracle once a fused kernel exists).

#include "onestep/engine/nn_functional.h"

#include "onestep/engine/elementwise.h"
#include "onestep/engine/reduction.h"
#include "op_helpers.h"

namespace onestep {

Tensor reference::group_norm(const Tensor& x, int64_t groups, const Tensor& weight,
                             const Tensor& bias, double eps) {
  detail::check_defined("group_norm", x, "input");
  detail::check_floating("group_norm", x);
  ONESTEP_CHECK(x.dim() >= 2, "group_norm: input must be [N, C, ...], got {}",
                shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1);
  ONESTEP_CHECK(groups >= 1 && C % groups == 0,
                "group_norm: {} channels do not split into {} groups", C, groups);
  ONESTEP_CHECK(eps >= 0, "group_norm: eps must be non-negative, got {}", eps);
  for (const Tensor* p : {&weight, &bias})
    if (p->defined())
      ONESTEP_CHECK(p->dim() == 1 && p->size(0) == C,
                    "group_norm: affine parameter {} does not match {} channels",
                    shape_str(p->shape()), C);
  const Tensor grouped = x.reshape({N, groups, -1});
  const Tensor centred = grouped - mean(grouped, {2}, true);
  const Tensor variance = mean(centred * centred, {2}, true);
  Tensor y = (centred * rsqrt(variance + eps)).reshape(x.shape());
  Shape channel_shape(x.dim(), 1);
  channel_shape[1] = C;
  if (weight.defined()) y = y * weight.reshape(channel_shape);
  if (bias.defined()) y = y + bias.reshape(channel_shape);
  return y;
}

Tensor softmax(const Tensor& x, int64_t dim) {
  detail::check_defined("softmax", x, "input");
  detail::check_floating("softmax", x);
  dim = wrap_dim(dim, x.dim(), "softmax");
  // Subtracting the (constant) maximum changes nothing mathematically and keeps exp finite.
  const Tensor shifted = x - amax(x.detach(), {dim}, true);
  const Tensor e = exp(shifted);
  return e / sum(e, {dim}, true);
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  detail::check_defined("log_softmax", x, "input");
  detail::check_floating("log_softmax", x);
  dim = wrap_dim(dim, x.dim(), "log_softmax");
  const Tensor shifted = x - amax(x.detach(), {dim}, true);
  return shifted - log(sum(exp(shifted), {dim}, true));
}

Tensor dropout(const Tensor& x, double p, bool training, Rng& gen) {
  detail::check_defined("dropout", x, "input");
  ONESTEP_CHECK(p >= 0.0 && p < 1.0, "dropout: probability must be in [0, 1), got {}", p);
  if (!training || p == 0.0) return x;
  detail::check_floating("dropout", x);
  const double keep = 1.0 - p;
  const Tensor mask = lt(rand(x.shape(), gen, x.dtype(), x.device()), keep) * (1.0 / keep);
  return x * mask;
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  detail::check_defined("mse_loss", a, "prediction");
  detail::check_defined("mse_loss", b, "target");
  ONESTEP_CHECK(a.shape() == b.shape(), "mse_loss: prediction {} and target {} differ in shape",
                shape_str(a.shape()), shape_str(b.shape()));
  const Tensor diff = a - b;
  return mean(diff * diff);
}

Tensor bce_with_logits(const Tensor& logits, const Tensor& targets) {
  detail::check_defined("bce_with_logits", logits, "logits");
  detail::check_defined("bce_with_logits", targets, "targets");
  ONESTEP_CHECK(logits.shape() == targets.shape(),
                "bce_with_logits: logits {} and targets {} differ in shape",
                shape_str(logits.shape()), shape_str(targets.shape()));
  // -[t log s(x) + (1-t) log(1-s(x))] = softplus(x) - t x, with softplus stable for any x.
  return mean(softplus(logits) - targets * logits);
}

}  // namespace onestep
