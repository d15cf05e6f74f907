#pragma once
// Reverse-mode autograd: grad mode, guards, backward and grad, and the hook for defining ops.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep {

// Grad mode is per thread. While off, ops record nothing.
bool grad_mode_enabled();
void set_grad_mode(bool enabled);

class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_mode_enabled()) { set_grad_mode(false); }
  ~NoGradGuard() { set_grad_mode(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

namespace autograd {

// Accumulates d(sum_i <outputs[i], grad_outputs[i]>)/d(leaf) into the .grad of every leaf that
// requires grad. grad_outputs may be empty when every output has one element.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false);

// Returns the gradients with respect to `inputs` (leaves or intermediate results) without
// touching any .grad. An input the outputs do not depend on is an error unless allow_unused,
// in which case its gradient is an undefined Tensor.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool allow_unused = false);

// A tensor kept for backward: a detached alias plus the storage version at save time, so that
// an in-place write between forward and backward is reported instead of giving wrong gradients.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  const Tensor& get() const;  // throws if the tensor was modified in place since it was saved

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

// Computes gradients for the inputs of one recorded op from the gradient of its output. Entry i
// of the result is the gradient for input i (undefined when that input needs none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// What a node remembers of each forward input, to check the gradients it returns.
struct InputMeta {
  Shape shape;
  DType dtype;
};

class Node {
 public:
  Node(std::string name, std::vector<std::shared_ptr<Node>> next, std::vector<InputMeta> inputs);
  // Frees the chain below iteratively: a recursive release would overflow the stack on graphs
  // tens of thousands of ops deep.
  virtual ~Node();
  const std::string& name() const { return name_; }
  // Gradients for each input; checks shapes and dtypes against the forward inputs.
  std::vector<Tensor> apply(const Tensor& grad_output);
  // Frees saved tensors; a later apply() throws (backward through the graph a second time).
  virtual void release() { released_ = true; }
  // next()[i] is the node that receives input i's gradient, or null if it needs none.
  const std::vector<std::shared_ptr<Node>>& next() const { return next_; }

 protected:
  virtual std::vector<Tensor> compute(const Tensor& grad_output) = 0;

 private:
  std::string name_;
  std::vector<std::shared_ptr<Node>> next_;
  std::vector<InputMeta> inputs_;
  bool released_ = false;
};

// True when grad mode is on and any defined input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches `backward` to `output` (a fresh result of an op on `inputs`) when needs_grad(inputs).
// Capture SavedTensor objects, never raw Tensors, in `backward`. `name` must be a registered op
// (onestep/engine/op_registry.h), else onestep::Error.
void record(const char* name, const std::vector<Tensor>& inputs, Tensor& output,
            BackwardFn backward);

}  // namespace autograd
}  // namespace onestep
