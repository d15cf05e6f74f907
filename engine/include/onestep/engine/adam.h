#pragma once
// The Adam / AdamW update of many parameters at once, in place. On backends with a fused kernel
// (the CPU, CUDA) it is one pass over each parameter's four tensors instead of a dozen
// elementwise ops and temporaries; on CUDA, one launch per several dozen parameters. The
// optimizers of onestep::nn call it; the composite reference::adam_update is its oracle.

#include <cstdint>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep {

struct AdamHyperparameters {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // AdamW: weight decay scales the parameter by (1 - lr * weight_decay) before the update
  // instead of adding weight_decay * param to the gradient.
  bool decoupled_weight_decay = false;
};

// One parameter: its value, gradient and moment buffers (all of one shape, dtype and device),
// and its step count including this update (>= 1, for the bias corrections).
struct AdamParameter {
  Tensor param, grad, exp_avg, exp_avg_sq;
  int64_t step = 1;
};

// For each parameter, with g the gradient (plus weight_decay * param unless decoupled):
//   exp_avg    = beta1 exp_avg + (1 - beta1) g          (a copy of g when beta1 == 0)
//   exp_avg_sq = beta2 exp_avg_sq + (1 - beta2) g^2
//   param     -= lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq / (1 - beta2^t)) + eps)
// Runs without recording autograd. Parameters whose tensors are not all contiguous take the
// composite path.
void adam_update(const std::vector<AdamParameter>& parameters, const AdamHyperparameters& h);

namespace reference {
// The same update as a composite of elementwise ops, one parameter at a time.
void adam_update(const std::vector<AdamParameter>& parameters, const AdamHyperparameters& h);
}  // namespace reference

}  // namespace onestep
