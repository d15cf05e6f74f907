#pragma once
// Modules: named parameters, buffers and children, PyTorch-style dotted state_dict keys
// ("enc.32x32_block0.norm0.weight"), train/eval mode, freezing, and a state_dict loader that
// reports every missing, unexpected or mis-shaped key at once.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "onestep/engine/tensor.h"
#include "onestep/nn/named_tensors.h"

namespace onestep::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Recursive, in registration order, with dotted names.
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;
  // Parameters and buffers (what a checkpoint holds).
  NamedTensors state_dict() const;
  // Copies values into the registered tensors (in place: handles held elsewhere, such as an
  // optimizer's, stay valid), converting dtype. Checks everything first and throws one
  // onestep::Error listing every missing, unexpected and mis-shaped key; nothing is copied then.
  // Entries whose names start with `ignore_prefix` (when non-empty) are skipped.
  void load_state_dict(const NamedTensors& state, const std::string& ignore_prefix = "");
  // Copies parameter and buffer values from a module of the same structure.
  void copy_state_from(const Module& other);

  // Converts every parameter and buffer in place (handles stay valid; gradients are dropped).
  void to(DType dtype);
  void to(Device device);

  void train(bool training = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Freezes (false) or unfreezes every parameter.
  void set_requires_grad(bool requires_grad);
  void zero_grad();

 protected:
  // Registers a leaf that requires grad; returns it for the caller's member handle.
  Tensor register_parameter(const std::string& name, Tensor value);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool parameters, bool buffers, NamedTensors& out) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// An ordered container of named children (PyTorch's ModuleDict): "enc.32x32_conv.weight".
class ModuleDict : public Module {
 public:
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> module) {
    return register_module(name, std::move(module));
  }
};

}  // namespace onestep::nn
