// SGD, Adam, AdamW and their checkpoint state.

#include "onestep/nn/optimizer.h"

#include <cmath>
#include <map>

#include "onestep/engine/adam.h"
#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"
#include "onestep/engine/elementwise.h"

namespace onestep::nn {

namespace {

bool finite_nonnegative(double x) {
  return std::isfinite(x) && x >= 0.0;
}

void check_lr(const char* who, double lr) {
  ONESTEP_CHECK(finite_nonnegative(lr), "{}: learning rate must be finite and >= 0, got {}", who,
                lr);
}

// "exp_avg.12" -> {"exp_avg", 12}; false when the name has no ".<decimal index>" suffix.
bool split_key(const std::string& key, std::string* buffer, int64_t* index) {
  const size_t dot = key.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == key.size()) return false;
  const std::string digits = key.substr(dot + 1);
  if (digits.size() > 18) return false;
  for (char c : digits)
    if (c < '0' || c > '9') return false;
  *buffer = key.substr(0, dot);
  *index = std::stoll(digits);
  return true;
}

// A step count stored as a one-element integral i64 or f64 tensor.
int64_t read_step(const char* who, const std::string& key, const Tensor& t) {
  ONESTEP_CHECK(t.numel() == 1 && (t.dtype() == DType::i64 || t.dtype() == DType::f64),
                "{}.load_state: '{}' must be a one-element i64 or f64 tensor, got {} {}", who, key,
                dtype_name(t.dtype()), shape_str(t.shape()));
  const double value = t.item();
  ONESTEP_CHECK(std::isfinite(value) && value >= 0 && value == std::floor(value) && value < 9e15,
                "{}.load_state: '{}' must be a whole number >= 0, got {}", who, key, value);
  return static_cast<int64_t>(value);
}

}  // namespace

// --- Optimizer

Optimizer::Optimizer(std::vector<Tensor> params, double lr, std::vector<std::string> buffer_names,
                     const char* who)
    : params_(std::move(params)), buffer_names_(std::move(buffer_names)), lr_(lr) {
  check_lr(who, lr);
  ONESTEP_CHECK(!params_.empty(), "{}: got an empty parameter list", who);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    ONESTEP_CHECK(p.defined(), "{}: parameter {} is undefined", who, i);
    ONESTEP_CHECK(p.is_leaf(),
                  "{}: parameter {} ({}) is not a leaf tensor (it is the result of {})", who, i,
                  shape_str(p.shape()), p.grad_fn_name());
    ONESTEP_CHECK(is_floating(p.dtype()), "{}: parameter {} has dtype {}; expected f32 or f64", who,
                  i, dtype_name(p.dtype()));
    for (size_t j = 0; j < i; ++j)
      ONESTEP_CHECK(!params_[j].is_same(p), "{}: parameter {} repeats parameter {}", who, i, j);
  }
  states_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::set_learning_rate(double lr) {
  check_lr(name(), lr);
  lr_ = lr;
}

NamedTensors Optimizer::state() const {
  NamedTensors out;
  for (size_t i = 0; i < states_.size(); ++i) {
    const ParamState& s = states_[i];
    if (!s.initialized()) continue;
    out.emplace_back(fmt::format("step.{}", i), scalar_tensor(double(s.step), DType::i64));
    for (size_t b = 0; b < s.buffers.size(); ++b)
      out.emplace_back(fmt::format("{}.{}", buffer_names_[b], i), s.buffers[b].clone());
  }
  return out;
}

void Optimizer::load_state(const NamedTensors& state) {
  const char* who = name();
  const int64_t n = static_cast<int64_t>(params_.size());
  // Collect into a fresh state first, so that a bad entry leaves this optimizer untouched.
  struct Pending {
    const Tensor* step = nullptr;
    std::vector<const Tensor*> buffers;
  };
  std::map<int64_t, Pending> pending;
  std::string expected;
  for (const auto& b : buffer_names_) expected += fmt::format(", {}.<i>", b);
  for (const auto& [key, tensor] : state) {
    std::string buffer;
    int64_t index = -1;
    const bool parsed = split_key(key, &buffer, &index);
    int slot = -2;  // -1: step, >= 0: buffer_names_[slot]
    if (parsed && buffer == "step") slot = -1;
    for (size_t b = 0; parsed && b < buffer_names_.size(); ++b)
      if (buffer == buffer_names_[b]) slot = static_cast<int>(b);
    ONESTEP_CHECK(slot != -2 && index < n,
                  "{}.load_state: unexpected entry '{}'; expected step.<i>{} with i in [0, {})",
                  who, key, expected, n);
    ONESTEP_CHECK(tensor.defined(), "{}.load_state: entry '{}' is an undefined tensor", who, key);
    Pending& p = pending[index];
    p.buffers.resize(buffer_names_.size(), nullptr);
    const Tensor** target = slot == -1 ? &p.step : &p.buffers[slot];
    ONESTEP_CHECK(*target == nullptr, "{}.load_state: entry '{}' appears twice", who, key);
    *target = &tensor;
  }

  std::vector<ParamState> fresh(params_.size());
  for (const auto& [index, p] : pending) {
    const Tensor& param = params_[index];
    ONESTEP_CHECK(p.step != nullptr, "{}.load_state: parameter {} has buffers but no 'step.{}'",
                  who, index, index);
    fresh[index].step = read_step(who, fmt::format("step.{}", index), *p.step);
    for (size_t b = 0; b < buffer_names_.size(); ++b) {
      const std::string key = fmt::format("{}.{}", buffer_names_[b], index);
      ONESTEP_CHECK(p.buffers[b] != nullptr, "{}.load_state: parameter {} is missing '{}'", who,
                    index, key);
      const Tensor& t = *p.buffers[b];
      ONESTEP_CHECK(t.shape() == param.shape() && t.dtype() == param.dtype(),
                    "{}.load_state: '{}' is {} {} but parameter {} is {} {}", who, key,
                    dtype_name(t.dtype()), shape_str(t.shape()), index, dtype_name(param.dtype()),
                    shape_str(param.shape()));
      // A private copy on the parameter's device: the caller's tensor must not alias the state.
      Tensor copy = empty(param.shape(), param.dtype(), param.device());
      copy.copy_(t);
      fresh[index].buffers.push_back(std::move(copy));
    }
  }
  states_ = std::move(fresh);
}

// --- SGD

namespace {

SGDOptions checked(SGDOptions o) {
  ONESTEP_CHECK(finite_nonnegative(o.momentum), "SGD: momentum must be finite and >= 0, got {}",
                o.momentum);
  ONESTEP_CHECK(std::isfinite(o.dampening) && o.dampening >= 0.0 && o.dampening <= 1.0,
                "SGD: dampening must be in [0, 1], got {}", o.dampening);
  ONESTEP_CHECK(finite_nonnegative(o.weight_decay),
                "SGD: weight_decay must be finite and >= 0, got {}", o.weight_decay);
  ONESTEP_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
                "SGD: nesterov needs momentum > 0 and dampening == 0, got momentum {} and "
                "dampening {}",
                o.momentum, o.dampening);
  return o;
}

std::vector<std::string> sgd_buffers(const SGDOptions& o) {
  if (o.momentum == 0.0) return {};
  return {"momentum_buffer"};
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : Optimizer(std::move(params), options.lr, sgd_buffers(checked(options)), "SGD"),
      options_(options) {}

void SGD::step() {
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i].detach();
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    ParamState& s = states_[i];
    ++s.step;
    if (o.weight_decay != 0.0) {
      Tensor decayed = p * o.weight_decay;
      decayed.add_(g);
      g = decayed;
    }
    Tensor direction = g;
    if (o.momentum != 0.0) {
      if (s.buffers.empty()) {
        s.buffers.push_back(g.clone());
      } else {
        s.buffers[0].mul_(o.momentum).add_(g, 1.0 - o.dampening);
      }
      const Tensor& buf = s.buffers[0];
      if (o.nesterov) {
        direction = buf * o.momentum;
        direction.add_(g);
      } else {
        direction = buf;
      }
    }
    p.add_(direction, -lr_);
  }
}

// --- Adam / AdamW

namespace {

AdamOptions checked(AdamOptions o, const char* who) {
  ONESTEP_CHECK(std::isfinite(o.beta1) && o.beta1 >= 0.0 && o.beta1 < 1.0,
                "{}: beta1 must be in [0, 1), got {}", who, o.beta1);
  ONESTEP_CHECK(std::isfinite(o.beta2) && o.beta2 >= 0.0 && o.beta2 < 1.0,
                "{}: beta2 must be in [0, 1), got {}", who, o.beta2);
  ONESTEP_CHECK(std::isfinite(o.eps) && o.eps > 0.0, "{}: eps must be finite and > 0, got {}", who,
                o.eps);
  ONESTEP_CHECK(finite_nonnegative(o.weight_decay),
                "{}: weight_decay must be finite and >= 0, got {}", who, o.weight_decay);
  return o;
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::move(params), options, false) {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled_weight_decay)
    : Optimizer(std::move(params), options.lr, {"exp_avg", "exp_avg_sq"},
                decoupled_weight_decay ? "AdamW" : "Adam"),
      options_(checked(options, decoupled_weight_decay ? "AdamW" : "Adam")),
      decoupled_(decoupled_weight_decay) {}

void Adam::step() {
  NoGradGuard no_grad;
  const AdamOptions& o = options_;
  std::vector<AdamParameter> parameters;
  parameters.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& g = params_[i].grad();
    if (!g.defined()) continue;
    ParamState& s = states_[i];
    const Tensor p = params_[i].detach();
    if (s.buffers.empty()) s.buffers = {zeros_like(p), zeros_like(p)};
    parameters.push_back({p, g, s.buffers[0], s.buffers[1], ++s.step});
  }
  if (parameters.empty()) return;
  adam_update(parameters, {lr_, o.beta1, o.beta2, o.eps, o.weight_decay, decoupled_});
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : Adam(std::move(params), options, true) {}

}  // namespace onestep::nn
