#include "onestep/nn/module.h"

#include <map>

#include "onestep/engine/autograd.h"

namespace onestep::nn {

void Module::check_new_name(const std::string& name) const {
  ONESTEP_CHECK(!name.empty() && name.find('.') == std::string::npos,
                "module: invalid name '{}' (non-empty, no dots)", name);
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  ONESTEP_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
                "module: name '{}' registered twice", name);
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  ONESTEP_CHECK(value.defined() && value.is_leaf(), "module: parameter '{}' must be a leaf tensor",
                name);
  value.set_requires_grad(true);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  ONESTEP_CHECK(value.defined(), "module: buffer '{}' is undefined", name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  ONESTEP_CHECK(module != nullptr, "module: child '{}' is null", name);
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool parameters, bool buffers,
                     NamedTensors& out) const {
  if (parameters)
    for (const auto& [name, t] : parameters_) out.emplace_back(prefix + name, t);
  if (buffers)
    for (const auto& [name, t] : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", parameters, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

void Module::load_state_dict(const NamedTensors& state, const std::string& ignore_prefix) {
  const NamedTensors own = state_dict();
  std::map<std::string, const Tensor*> given;
  std::vector<std::string> problems;
  for (const auto& [name, t] : state) {
    if (!ignore_prefix.empty() && name.rfind(ignore_prefix, 0) == 0) continue;
    if (!given.emplace(name, &t).second)
      problems.push_back(fmt::format("duplicate key '{}'", name));
  }
  std::vector<std::pair<Tensor, const Tensor*>> copies;
  for (const auto& [name, target] : own) {
    auto it = given.find(name);
    if (it == given.end()) {
      problems.push_back(
          fmt::format("missing key '{}' (expected shape {})", name, shape_str(target.shape())));
      continue;
    }
    const Tensor& source = *it->second;
    if (!source.defined() || source.shape() != target.shape()) {
      problems.push_back(fmt::format("key '{}' has shape {}, the model expects {}", name,
                                     source.defined() ? shape_str(source.shape()) : "undefined",
                                     shape_str(target.shape())));
    } else if (is_floating(source.dtype()) != is_floating(target.dtype())) {
      problems.push_back(fmt::format("key '{}' has dtype {}, the model expects {}", name,
                                     dtype_name(source.dtype()), dtype_name(target.dtype())));
    } else {
      copies.emplace_back(target, &source);
    }
    given.erase(it);
  }
  for (const auto& [name, t] : given) problems.push_back(fmt::format("unexpected key '{}'", name));
  if (!problems.empty()) {
    const size_t shown = std::min<size_t>(problems.size(), 20);
    std::string message = fmt::format("load_state_dict: {} problem(s):", problems.size());
    for (size_t i = 0; i < shown; ++i) message += "\n  " + problems[i];
    if (shown < problems.size())
      message += fmt::format("\n  ... and {} more", problems.size() - shown);
    ONESTEP_FAIL("{}", message);
  }
  NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(*source);
}

void Module::copy_state_from(const Module& other) {
  load_state_dict(other.state_dict());
}

void Module::to(DType dtype) {
  NoGradGuard no_grad;
  for (auto& [name, t] : state_dict())
    if (is_floating(t.dtype()) && t.dtype() != dtype) t.set_data(t.to(dtype));
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto& [name, t] : state_dict())
    if (t.device() != device) t.set_data(t.to(device));
}

void Module::train(bool training) {
  training_ = training;
  for (auto& [name, child] : children_) child->train(training);
}

void Module::set_requires_grad(bool requires_grad) {
  for (auto& [name, t] : named_parameters()) t.set_requires_grad(requires_grad);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

}  // namespace onestep::nn
