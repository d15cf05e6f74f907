#pragma once
// Optimizers over lists of leaf tensors: SGD, Adam and AdamW with PyTorch's update formulas
// (torch.optim.SGD / Adam / AdamW, single-tensor path, no amsgrad, no maximize).
//
// Updates are written with engine ops under NoGradGuard, so they run wherever the parameters
// live. A parameter whose .grad() is undefined is skipped and its state (including its step
// count) is left untouched, as in PyTorch.
//
// Checkpoints: state() returns named copies of every per-parameter buffer, keyed
// "<buffer>.<parameter index>", e.g. "step.3" (0-d i64), "exp_avg.3", "exp_avg_sq.3" for Adam or
// "momentum_buffer.3" for SGD with momentum. A parameter that has not been stepped yet has no
// entries. Hyperparameters (lr, betas, ...) are configuration and are not part of the state.

#include <string>
#include <utility>
#include <vector>

#include "onestep/engine/tensor.h"
#include "onestep/nn/named_tensors.h"

namespace onestep::nn {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Drops every parameter's gradient (PyTorch's set_to_none=True).
  void zero_grad();

  double learning_rate() const { return lr_; }
  // For schedules (warm-up, decay); takes effect at the next step(). lr must be finite, >= 0.
  void set_learning_rate(double lr);

  const std::vector<Tensor>& params() const { return params_; }
  // "SGD", "Adam", "AdamW": names the optimizer in error messages.
  virtual const char* name() const = 0;

  // Copies of the state (see the top of this file); later steps do not change them.
  NamedTensors state() const;
  // Replaces the whole state. Every entry must be "<buffer>.<i>" with a buffer this optimizer
  // keeps and i a parameter index; a parameter has either all of its entries or none (none:
  // it starts afresh at its next step). Buffers must match the parameter's shape and dtype and
  // are copied onto its device; a step count is a one-element integral i64 or f64 tensor >= 0.
  // Throws onestep::Error and leaves the optimizer unchanged on any mismatch.
  void load_state(const NamedTensors& state);

 protected:
  // params: leaf floating-point tensors, none repeated, at least one.
  Optimizer(std::vector<Tensor> params, double lr, std::vector<std::string> buffer_names,
            const char* who);

  struct ParamState {
    int64_t step = 0;             // updates applied to this parameter
    std::vector<Tensor> buffers;  // one per buffer name; empty until the first step
    bool initialized() const { return !buffers.empty() || step > 0; }
  };

  std::vector<Tensor> params_;
  std::vector<ParamState> states_;  // one per parameter
  std::vector<std::string> buffer_names_;
  double lr_;
};

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  // L2: added to the gradient as weight_decay * param
  bool nesterov = false;      // needs momentum > 0 and dampening == 0
};

// With g = grad + weight_decay * p:
//   b = g on the first step, else momentum * b + (1 - dampening) * g   (when momentum != 0)
//   d = nesterov ? g + momentum * b : b                                (d = g when momentum == 0)
//   p -= lr * d
class SGD final : public Optimizer {
 public:
  explicit SGD(std::vector<Tensor> params, SGDOptions options = {});
  void step() override;
  const char* name() const override { return "SGD"; }
  const SGDOptions& options() const { return options_; }

 private:
  SGDOptions options_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;  // 0 is allowed: then exp_avg is the current gradient
  double beta2 = 0.999;
  double eps = 1e-8;
  // Adam: L2, added to the gradient. AdamW: decoupled, p *= 1 - lr * weight_decay.
  double weight_decay = 0.0;
};

// PyTorch's AdamW default weight decay.
struct AdamWOptions : AdamOptions {
  AdamWOptions() { weight_decay = 1e-2; }
};

// At step t (per parameter, counted from 1), with g = grad (+ weight_decay * p for Adam):
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Buffers "exp_avg" (m) and "exp_avg_sq" (v).
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {});
  void step() override;
  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled_weight_decay);

 private:
  AdamOptions options_;
  bool decoupled_;
};

// Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam update, and the
// gradient is used as is.
class AdamW final : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});
};

}  // namespace onestep::nn
