#pragma once
// Tensor: a cheap handle to shared storage + shape + strides (in elements) + offset + dtype +
// device + autograd slot. Views (reshape, permute, slice, expand, ...) share storage.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "onestep/engine/device.h"
#include "onestep/engine/dtype.h"
#include "onestep/engine/error.h"
#include "onestep/engine/shape.h"

namespace onestep {

namespace autograd {
class Node;
}

namespace detail {

// A block of memory on one device, returned to its allocator's cache when the last view dies.
struct Storage {
  Storage(size_t nbytes, Device device);  // allocates from the device's allocator
  // Wraps memory owned elsewhere; `deleter` (may be empty) runs when the storage dies.
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::function<void(void*)> external_deleter;
  bool external = false;
  // Bumped by every in-place write, so backward can refuse to use a saved tensor that changed.
  uint64_t version = 0;
};

struct TensorImpl;

struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;         // set on results of recorded ops
  std::shared_ptr<TensorImpl> grad;                // accumulated gradient of a leaf
  std::weak_ptr<autograd::Node> grad_accumulator;  // shared by every use of a leaf in a graph
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::f32;
  AutogradMeta autograd;
};

}  // namespace detail

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

  // A view of `storage` (no copy, no autograd).
  static Tensor from_storage(std::shared_ptr<detail::Storage> storage, Shape shape, Shape strides,
                             int64_t offset, DType dtype);

  // A contiguous tensor over memory owned by the caller (no copy). `deleter`, if given, is called
  // with `data` when the last view dies; otherwise the memory must outlive every view.
  static Tensor from_blob(void* data, const Shape& shape, DType dtype,
                          Device device = Device::cpu(),
                          std::function<void(void*)> deleter = nullptr);

  bool defined() const { return impl_ != nullptr; }

  // --- metadata
  const Shape& shape() const { return checked().shape; }
  const Shape& strides() const { return checked().strides; }
  int64_t offset() const { return checked().offset; }
  int64_t dim() const { return static_cast<int64_t>(checked().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(checked().shape); }
  DType dtype() const { return checked().dtype; }
  Device device() const { return checked().storage->device; }
  bool is_contiguous() const;
  // Pointer to the first element of this view (host or device memory).
  void* raw_data() const;
  // Typed host pointer; throws unless the dtype is T and the tensor is on the CPU.
  template <class T>
  T* data() const;

  // --- copies and host transfer
  Tensor contiguous() const;  // this tensor when already contiguous, else a copy
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  // Elements in logical (row-major) order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;
  double item() const;  // the single element of a one-element tensor

  // --- views (differentiable; they share storage)
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, else a copy
  Tensor view(const Shape& shape) const;     // a view or an error
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // slice of one element, dim removed
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // --- autograd
  bool requires_grad() const { return checked().autograd.requires_grad; }
  // Only leaves can be toggled; results of recorded ops require grad through their inputs.
  // Like every mutator below, const: a Tensor is a handle, and mutation acts on what it refers to.
  const Tensor& set_requires_grad(bool requires_grad) const;
  bool is_leaf() const { return checked().autograd.grad_fn == nullptr; }
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;  // drops the accumulated gradient
  // Seeds with `gradient` (ones for a one-element tensor when omitted).
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // same storage, no autograd history
  // Makes this leaf refer to `source`'s data, shape and dtype (no copy), keeping its autograd
  // flags and every handle to it valid: how a module converts its parameters in place.
  void set_data(const Tensor& source) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const { return checked().autograd.grad_fn; }
  std::string grad_fn_name() const;

  // --- in-place writes; refused on a tensor that requires grad while grad mode is on
  const Tensor& copy_(
      const Tensor& src) const;  // src broadcast to this shape, converted to this dtype
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const { return fill_(0.0); }
  const Tensor& add_(const Tensor& other, double alpha = 1.0) const;  // this += alpha * other
  const Tensor& mul_(double factor) const;

  // --- identity and printing
  detail::TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<detail::TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  bool shares_storage(const Tensor& other) const;
  std::string str() const;

 private:
  detail::TensorImpl& checked() const;
  void check_inplace(const char* op) const;
  void bump_version() const;

  std::shared_ptr<detail::TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace onestep
