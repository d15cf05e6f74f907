// Exponential moving average of parameters.

#include "onestep/nn/ema.h"

#include <algorithm>
#include <cmath>

#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"

namespace onestep::nn {

namespace {

// A plain (no autograd) copy of t on t's device.
Tensor plain_copy(const Tensor& t) {
  NoGradGuard no_grad;
  return t.detach().clone();
}

}  // namespace

ExponentialMovingAverage::ExponentialMovingAverage(std::vector<Tensor> params)
    : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    ONESTEP_CHECK(p.defined(), "ExponentialMovingAverage: parameter {} is undefined", i);
    ONESTEP_CHECK(is_floating(p.dtype()),
                  "ExponentialMovingAverage: parameter {} has dtype {}; expected f32 or f64", i,
                  dtype_name(p.dtype()));
    for (size_t j = 0; j < i; ++j)
      ONESTEP_CHECK(!params_[j].is_same(p),
                    "ExponentialMovingAverage: parameter {} repeats parameter {}", i, j);
    shadows_.push_back(plain_copy(p));
  }
}

void ExponentialMovingAverage::update(double decay) {
  ONESTEP_CHECK(std::isfinite(decay) && decay >= 0.0 && decay <= 1.0,
                "ExponentialMovingAverage::update: decay must be in [0, 1], got {}", decay);
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& s = shadows_[i];
    const Tensor p = params_[i].detach();
    // The end points are exact (no 0 * inf from a diverged shadow or parameter).
    if (decay == 0.0) {
      s.copy_(p);
    } else if (decay != 1.0) {
      s.mul_(decay).add_(p, 1.0 - decay);
    }
  }
  ++num_updates_;
}

double ExponentialMovingAverage::decay_for_half_life(double half_life_images, double batch_size) {
  ONESTEP_CHECK(!std::isnan(half_life_images) && half_life_images >= 0.0,
                "decay_for_half_life: half-life must be >= 0 images, got {}", half_life_images);
  ONESTEP_CHECK(std::isfinite(batch_size) && batch_size > 0.0,
                "decay_for_half_life: batch size must be finite and > 0, got {}", batch_size);
  // EDM's floor, so that a zero half-life gives decay 0 rather than 0.5^inf computed from 1/0.
  return std::pow(0.5, batch_size / std::max(half_life_images, 1e-8));
}

double ExponentialMovingAverage::decay_for_half_life(double half_life_images, double batch_size,
                                                     double images_seen, double rampup_ratio) {
  ONESTEP_CHECK(std::isfinite(images_seen) && images_seen >= 0.0,
                "decay_for_half_life: images seen must be finite and >= 0, got {}", images_seen);
  ONESTEP_CHECK(std::isfinite(rampup_ratio) && rampup_ratio >= 0.0,
                "decay_for_half_life: ramp-up ratio must be finite and >= 0, got {}", rampup_ratio);
  ONESTEP_CHECK(!std::isnan(half_life_images) && half_life_images >= 0.0,
                "decay_for_half_life: half-life must be >= 0 images, got {}", half_life_images);
  return decay_for_half_life(std::min(half_life_images, images_seen * rampup_ratio), batch_size);
}

void ExponentialMovingAverage::copy_to(const std::vector<Tensor>& targets) const {
  ONESTEP_CHECK(targets.size() == shadows_.size(),
                "ExponentialMovingAverage::copy_to: {} targets for {} shadows", targets.size(),
                shadows_.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const Tensor& t = targets[i];
    const Tensor& s = shadows_[i];
    ONESTEP_CHECK(t.defined() && t.shape() == s.shape() && t.dtype() == s.dtype(),
                  "ExponentialMovingAverage::copy_to: target {} is {} {}; expected {} {}", i,
                  t.defined() ? dtype_name(t.dtype()) : "undefined",
                  t.defined() ? shape_str(t.shape()) : "", dtype_name(s.dtype()),
                  shape_str(s.shape()));
  }
  NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) targets[i].detach().copy_(shadows_[i]);
}

void ExponentialMovingAverage::swap() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i].detach();
    // The shadow handle takes the parameter's old values; the parameter keeps its storage (the
    // network and the optimizer hold it).
    Tensor old = p.clone();
    p.copy_(shadows_[i]);
    shadows_[i] = old;
  }
}

NamedTensors ExponentialMovingAverage::state() const {
  NamedTensors out;
  out.reserve(shadows_.size() + 1);
  for (size_t i = 0; i < shadows_.size(); ++i)
    out.emplace_back(fmt::format("shadow.{}", i), shadows_[i].clone());
  out.emplace_back("num_updates", scalar_tensor(double(num_updates_), DType::i64));
  return out;
}

void ExponentialMovingAverage::load_state(const NamedTensors& state) {
  constexpr const char* who = "ExponentialMovingAverage::load_state";
  std::vector<const Tensor*> found(shadows_.size(), nullptr);
  const Tensor* count = nullptr;
  for (const auto& [key, tensor] : state) {
    ONESTEP_CHECK(tensor.defined(), "{}: entry '{}' is an undefined tensor", who, key);
    if (key == "num_updates") {
      ONESTEP_CHECK(count == nullptr, "{}: entry '{}' appears twice", who, key);
      count = &tensor;
      continue;
    }
    size_t index = found.size();
    if (key.rfind("shadow.", 0) == 0 && key.size() > 7 && key.size() < 7 + 18 &&
        key.find_first_not_of("0123456789", 7) == std::string::npos)
      index = std::stoull(key.substr(7));
    ONESTEP_CHECK(index < found.size(),
                  "{}: unexpected entry '{}'; expected shadow.<i> with i in [0, {}) and "
                  "num_updates",
                  who, key, found.size());
    ONESTEP_CHECK(found[index] == nullptr, "{}: entry '{}' appears twice", who, key);
    const Tensor& s = shadows_[index];
    ONESTEP_CHECK(tensor.shape() == s.shape() && tensor.dtype() == s.dtype(),
                  "{}: '{}' is {} {} but parameter {} is {} {}", who, key,
                  dtype_name(tensor.dtype()), shape_str(tensor.shape()), index,
                  dtype_name(s.dtype()), shape_str(s.shape()));
    found[index] = &tensor;
  }
  for (size_t i = 0; i < found.size(); ++i)
    ONESTEP_CHECK(found[i] != nullptr, "{}: missing entry 'shadow.{}'", who, i);
  ONESTEP_CHECK(count != nullptr, "{}: missing entry 'num_updates'", who);
  ONESTEP_CHECK(
      count->numel() == 1 && (count->dtype() == DType::i64 || count->dtype() == DType::f64),
      "{}: 'num_updates' must be a one-element i64 or f64 tensor, got {} {}", who,
      dtype_name(count->dtype()), shape_str(count->shape()));
  const double updates = count->item();
  ONESTEP_CHECK(
      std::isfinite(updates) && updates >= 0 && updates == std::floor(updates) && updates < 9e15,
      "{}: 'num_updates' must be a whole number >= 0, got {}", who, updates);

  std::vector<Tensor> fresh;
  fresh.reserve(found.size());
  NoGradGuard no_grad;
  for (size_t i = 0; i < found.size(); ++i) {
    // Private copies on the parameter's device.
    Tensor copy = empty(params_[i].shape(), params_[i].dtype(), params_[i].device());
    copy.copy_(*found[i]);
    fresh.push_back(std::move(copy));
  }
  shadows_ = std::move(fresh);
  num_updates_ = static_cast<int64_t>(updates);
}

}  // namespace onestep::nn
