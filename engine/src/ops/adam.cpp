// adam_update: parameters grouped by device and dtype into one fused backend call each; the
// composite (reference::adam_update) for backends without the kernel and for parameters with a
// non-contiguous tensor.

#include "onestep/engine/adam.h"

#include <cmath>
#include <map>
#include <utility>

#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"
#include "onestep/engine/elementwise.h"
#include "op_helpers.h"

namespace onestep {

namespace {

void check_hyperparameters(const AdamHyperparameters& h) {
  ONESTEP_CHECK(std::isfinite(h.lr) && h.lr >= 0, "adam_update: lr must be finite and >= 0, got {}",
                h.lr);
  ONESTEP_CHECK(h.beta1 >= 0 && h.beta1 < 1, "adam_update: beta1 must be in [0, 1), got {}",
                h.beta1);
  ONESTEP_CHECK(h.beta2 >= 0 && h.beta2 < 1, "adam_update: beta2 must be in [0, 1), got {}",
                h.beta2);
  ONESTEP_CHECK(std::isfinite(h.eps) && h.eps > 0, "adam_update: eps must be finite and > 0, got {}",
                h.eps);
  ONESTEP_CHECK(std::isfinite(h.weight_decay) && h.weight_decay >= 0,
                "adam_update: weight_decay must be finite and >= 0, got {}", h.weight_decay);
}

void check_parameter(const AdamParameter& p, size_t i) {
  const char* names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
  const Tensor* tensors[] = {&p.param, &p.grad, &p.exp_avg, &p.exp_avg_sq};
  for (int k = 0; k < 4; ++k) {
    ONESTEP_CHECK(tensors[k]->defined(), "adam_update: parameter {}: {} is undefined", i,
                  names[k]);
    ONESTEP_CHECK(tensors[k]->shape() == p.param.shape() &&
                      tensors[k]->dtype() == p.param.dtype() &&
                      tensors[k]->device() == p.param.device(),
                  "adam_update: parameter {}: {} is {} {} on {} but param is {} {} on {}", i,
                  names[k], dtype_name(tensors[k]->dtype()), shape_str(tensors[k]->shape()),
                  tensors[k]->device().str(), dtype_name(p.param.dtype()),
                  shape_str(p.param.shape()), p.param.device().str());
  }
  detail::check_floating("adam_update", p.param);
  ONESTEP_CHECK(p.step >= 1, "adam_update: parameter {}: step must be >= 1, got {}", i, p.step);
}

bool all_contiguous(const AdamParameter& p) {
  return p.param.is_contiguous() && p.grad.is_contiguous() && p.exp_avg.is_contiguous() &&
         p.exp_avg_sq.is_contiguous();
}

double step_size(const AdamHyperparameters& h, int64_t step) {
  return h.lr / (1.0 - std::pow(h.beta1, double(step)));
}

double denom_scale(const AdamHyperparameters& h, int64_t step) {
  return 1.0 / std::sqrt(1.0 - std::pow(h.beta2, double(step)));
}

// The fused path writes through raw pointers; in-place writes must still invalidate saved copies.
void bump_versions(const AdamParameter& p) {
  for (const Tensor* t : {&p.param, &p.exp_avg, &p.exp_avg_sq}) ++t->impl()->storage->version;
}

void composite_update(const AdamParameter& parameter, const AdamHyperparameters& h) {
  const Tensor& p = parameter.param;
  const Tensor& m = parameter.exp_avg;
  const Tensor& v = parameter.exp_avg_sq;
  Tensor g = parameter.grad;
  if (h.weight_decay != 0.0) {
    if (h.decoupled_weight_decay) {
      p.mul_(1.0 - h.lr * h.weight_decay);
    } else {
      Tensor decayed = p * h.weight_decay;
      decayed.add_(g);
      g = decayed;
    }
  }
  // With beta1 = 0 a copy, which also keeps a non-finite exp_avg from an earlier step from
  // leaking in through 0 * inf.
  if (h.beta1 == 0.0) {
    m.copy_(g);
  } else {
    m.mul_(h.beta1).add_(g, 1.0 - h.beta1);
  }
  Tensor g2 = square(g);
  g2.mul_(1.0 - h.beta2);
  v.mul_(h.beta2).add_(g2);
  const Tensor denom = affine(sqrt(v), denom_scale(h, parameter.step), h.eps);
  Tensor update = m / denom;
  update.mul_(-step_size(h, parameter.step));
  p.add_(update);
}

}  // namespace

void adam_update(const std::vector<AdamParameter>& parameters, const AdamHyperparameters& h) {
  check_hyperparameters(h);
  for (size_t i = 0; i < parameters.size(); ++i) check_parameter(parameters[i], i);
  NoGradGuard no_grad;
  const backend::AdamConstants constants{h.beta1, h.beta2, h.eps, h.weight_decay,
                                         h.decoupled_weight_decay, 1.0 - h.lr * h.weight_decay};
  // Grouped in order of first appearance, so that each backend call sees the parameters in the
  // caller's order.
  std::map<std::pair<std::string, DType>, std::vector<size_t>> groups;
  std::vector<std::pair<std::string, DType>> order;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const AdamParameter& p = parameters[i];
    if (p.param.numel() == 0) continue;
    if (!all_contiguous(p)) {
      composite_update(p, h);
      continue;
    }
    const auto key = std::make_pair(p.param.device().str(), p.param.dtype());
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(i);
  }
  for (const auto& key : order) {
    const std::vector<size_t>& members = groups[key];
    std::vector<backend::AdamTensors> tensors;
    tensors.reserve(members.size());
    for (size_t i : members) {
      const AdamParameter& p = parameters[i];
      tensors.push_back({p.param, p.grad, p.exp_avg, p.exp_avg_sq, step_size(h, p.step),
                         denom_scale(h, p.step)});
    }
    if (detail::backend_of(parameters[members.front()].param).adam_update(tensors, constants)) {
      for (size_t i : members) bump_versions(parameters[i]);
    } else {
      for (size_t i : members) composite_update(parameters[i], h);
    }
  }
}

namespace reference {

void adam_update(const std::vector<AdamParameter>& parameters, const AdamHyperparameters& h) {
  check_hyperparameters(h);
  for (size_t i = 0; i < parameters.size(); ++i) check_parameter(parameters[i], i);
  NoGradGuard no_grad;
  for (const AdamParameter& p : parameters) composite_update(p, h);
}

}  // namespace reference

}  // namespace onestep
