// The backward pass: graph discovery by iterative DFS (deep UNets overflow recursion), then
// Kahn's algorithm, so each node runs once, after every gradient for its output has arrived.

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"
#include "onestep/engine/elementwise.h"
#include "onestep/engine/op_registry.h"

namespace onestep {

namespace {
thread_local bool grad_mode = true;
}

bool grad_mode_enabled() {
  return grad_mode;
}
void set_grad_mode(bool enabled) {
  grad_mode = enabled;
}

namespace autograd {

Node::Node(std::string name, std::vector<std::shared_ptr<Node>> next, std::vector<InputMeta> inputs)
    : name_(std::move(name)), next_(std::move(next)), inputs_(std::move(inputs)) {}

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  ONESTEP_CHECK(!released_,
                "backward through {} a second time: its saved tensors were freed after the first "
                "backward; pass retain_graph=true to the first call",
                name_);
  std::vector<Tensor> grads = compute(grad_output);
  ONESTEP_CHECK(grads.size() == next_.size(), "backward of {} returned {} gradients for {} inputs",
                name_, grads.size(), next_.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!next_[i] || !grads[i].defined()) continue;
    ONESTEP_CHECK(grads[i].shape() == inputs_[i].shape && grads[i].dtype() == inputs_[i].dtype,
                  "backward of {} returned a {} {} gradient for input {} of {} {}", name_,
                  dtype_name(grads[i].dtype()), shape_str(grads[i].shape()), i,
                  dtype_name(inputs_[i].dtype), shape_str(inputs_[i].shape));
  }
  return grads;
}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending = std::move(next_);
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    if (node && node.use_count() == 1) {
      for (auto& child : node->next_) pending.push_back(std::move(child));
      node->next_.clear();
    }
  }
}

SavedTensor::SavedTensor(const Tensor& t) {
  if (t.defined()) {
    tensor_ = t.detach();
    version_ = t.impl()->storage->version;
  }
}

const Tensor& SavedTensor::get() const {
  ONESTEP_CHECK(!tensor_.defined() || tensor_.impl()->storage->version == version_,
                "a tensor of shape {} saved for backward was modified in place after it was used "
                "(version {} -> {}); clone it before modifying",
                shape_str(tensor_.shape()), version_, tensor_.impl()->storage->version);
  return tensor_;
}

namespace {

class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, std::vector<std::shared_ptr<Node>> next,
               std::vector<InputMeta> inputs, BackwardFn fn)
      : Node(std::move(name), std::move(next), std::move(inputs)), fn_(std::move(fn)) {}
  void release() override {
    fn_ = nullptr;  // frees the captured saved tensors
    Node::release();
  }

 protected:
  std::vector<Tensor> compute(const Tensor& grad_output) override { return fn_(grad_output); }

 private:
  BackwardFn fn_;
};

// The sink of a leaf: adds the incoming gradient to leaf.grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Tensor leaf) : Node("AccumulateGrad", {}, {}), leaf_(std::move(leaf)) {}
  void release() override {}  // holds nothing to free, and is shared across graphs

 protected:
  std::vector<Tensor> compute(const Tensor& grad_output) override {
    Tensor current = leaf_.grad();
    if (current.defined()) {
      current.add_(grad_output);
    } else {
      // A copy: the incoming gradient may be a view of another tensor (an expand, say).
      leaf_.set_grad(grad_output.clone());
    }
    return {};
  }

 private:
  Tensor leaf_;
};

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  auto& meta = leaf.impl()->autograd;
  if (auto existing = meta.grad_accumulator.lock()) return existing;
  auto created = std::make_shared<AccumulateGrad>(leaf);
  meta.grad_accumulator = created;
  return created;
}

// The node that receives the gradient of t.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  return grad_accumulator(t);
}

void accumulate(std::unordered_map<Node*, Tensor>& grads, Node* node, const Tensor& g) {
  Tensor& slot = grads[node];
  slot = slot.defined() ? slot + g : g;
}

struct Pass {
  std::vector<Tensor> outputs;
  std::vector<Tensor> grad_outputs;
  bool retain_graph = false;
  // When non-empty: capture the gradient arriving at these nodes instead of writing .grad.
  std::unordered_set<Node*> targets;
  std::unordered_map<Node*, Tensor> captured;
};

void run(Pass& pass) {
  NoGradGuard no_grad;
  ONESTEP_CHECK(pass.grad_outputs.empty() || pass.grad_outputs.size() == pass.outputs.size(),
                "backward: {} gradients given for {} outputs", pass.grad_outputs.size(),
                pass.outputs.size());
  std::vector<std::shared_ptr<Node>> roots;
  std::unordered_map<Node*, Tensor> grads;
  for (size_t i = 0; i < pass.outputs.size(); ++i) {
    const Tensor& out = pass.outputs[i];
    ONESTEP_CHECK(out.defined() && out.requires_grad(),
                  "backward: output {} does not require grad (no input of the computation "
                  "requires grad, or it ran under NoGradGuard)",
                  i);
    Tensor seed = pass.grad_outputs.empty() ? Tensor() : pass.grad_outputs[i];
    if (!seed.defined()) {
      ONESTEP_CHECK(out.numel() == 1,
                    "backward: output {} has shape {}; a gradient can only be implied for a "
                    "one-element output, pass one explicitly",
                    i, shape_str(out.shape()));
      seed = ones(out.shape(), out.dtype(), out.device());
    }
    ONESTEP_CHECK(
        seed.shape() == out.shape() && seed.dtype() == out.dtype() && seed.device() == out.device(),
        "backward: gradient {} {} does not match output {} {}", shape_str(seed.shape()),
        dtype_name(seed.dtype()), shape_str(out.shape()), dtype_name(out.dtype()));
    auto root = gradient_edge(out);
    accumulate(grads, root.get(), seed.detach());
    roots.push_back(root);
  }

  // Discover the graph: dependency counts and a post-order (children before parents).
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> post_order;
  {
    std::unordered_set<Node*> seen;
    std::vector<std::pair<Node*, size_t>> stack;
    for (auto& root : roots) {
      if (!seen.insert(root.get()).second) continue;
      stack.push_back({root.get(), 0});
      while (!stack.empty()) {
        auto& [node, child] = stack.back();
        if (child < node->next().size()) {
          Node* next = node->next()[child++].get();
          if (next == nullptr) continue;
          ++dependencies[next];
          if (seen.insert(next).second) stack.push_back({next, 0});
        } else {
          post_order.push_back(node);
          stack.pop_back();
        }
      }
    }
  }

  // With targets, run only nodes that lead to one.
  const bool capturing = !pass.targets.empty();
  std::unordered_set<Node*> leads_to_target;
  if (capturing) {
    for (Node* node : post_order) {
      for (const auto& next : node->next())
        if (next && (pass.targets.count(next.get()) || leads_to_target.count(next.get()))) {
          leads_to_target.insert(node);
          break;
        }
    }
  }

  std::vector<Node*> ready;
  for (auto& root : roots)
    if (dependencies[root.get()] == 0 &&
        std::find(ready.begin(), ready.end(), root.get()) == ready.end())
      ready.push_back(root.get());

  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad;
    if (auto it = grads.find(node); it != grads.end()) {
      grad = std::move(it->second);
      grads.erase(it);
    }
    if (capturing && pass.targets.count(node)) pass.captured[node] = grad;
    const bool execute = grad.defined() && (!capturing || leads_to_target.count(node));
    std::vector<Tensor> input_grads;
    if (execute) {
      input_grads = node->apply(grad);
      if (!pass.retain_graph) node->release();
    }
    const auto& next = node->next();
    for (size_t i = 0; i < next.size(); ++i) {
      Node* child = next[i].get();
      if (child == nullptr) continue;
      if (execute && input_grads[i].defined()) accumulate(grads, child, input_grads[i]);
      if (--dependencies[child] == 0) ready.push_back(child);
    }
  }
}

}  // namespace

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph) {
  Pass pass;
  pass.outputs = outputs;
  pass.grad_outputs = grad_outputs;
  pass.retain_graph = retain_graph;
  run(pass);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool allow_unused) {
  Pass pass;
  pass.outputs = outputs;
  pass.grad_outputs = grad_outputs;
  pass.retain_graph = retain_graph;
  std::vector<std::shared_ptr<Node>> input_nodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ONESTEP_CHECK(inputs[i].defined() && inputs[i].requires_grad(),
                  "grad: input {} does not require grad", i);
    input_nodes.push_back(gradient_edge(inputs[i]));
    pass.targets.insert(input_nodes.back().get());
  }
  run(pass);
  std::vector<Tensor> result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = pass.captured.find(input_nodes[i].get());
    const bool found = it != pass.captured.end() && it->second.defined();
    ONESTEP_CHECK(found || allow_unused,
                  "grad: the outputs do not depend on input {} (shape {}); pass allow_unused=true "
                  "to get an undefined gradient instead",
                  i, shape_str(inputs[i].shape()));
    result.push_back(found ? it->second : Tensor());
  }
  return result;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs, Tensor& output,
            BackwardFn backward) {
  if (!needs_grad(inputs)) return;
  // Names are string literals: each pointer is looked up once per thread.
  thread_local std::unordered_set<const char*> checked;
  if (checked.count(name) == 0) {
    ONESTEP_CHECK(is_registered_op(name),
                  "autograd: '{}' records a backward but is not a registered differentiable op: "
                  "list it in differentiable_ops() (engine/src/ops/op_registry.cpp) with a "
                  "gradient-check row, or register_differentiable_op() your own op",
                  name);
    checked.insert(name);
  }
  std::vector<std::shared_ptr<Node>> next;
  std::vector<InputMeta> metas;
  for (const Tensor& t : inputs) {
    next.push_back(gradient_edge(t));
    metas.push_back(t.defined() ? InputMeta{t.shape(), t.dtype()} : InputMeta{{}, DType::f32});
  }
  auto& meta = output.impl()->autograd;
  meta.grad_fn =
      std::make_shared<FunctionNode>(name, std::move(next), std::move(metas), std::move(backward));
  meta.requires_grad = true;
}

}  // namespace autograd
}  // namespace onestep
