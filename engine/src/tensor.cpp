// Tensor handle: storage, metadata, host transfer, in-place writes, printing.

#include "onestep/engine/tensor.h"

#include <cmath>
#include <ostream>
#include <sstream>

#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"
#include "onestep/engine/elementwise.h"
#include "ops/op_helpers.h"

namespace onestep {

namespace detail {

Storage::Storage(size_t bytes, Device dev) : nbytes(bytes), device(dev) {
  data = backend::get(device).allocate(nbytes);
}

Storage::Storage(void* ptr, size_t bytes, Device dev, std::function<void(void*)> deleter)
    : data(ptr), nbytes(bytes), device(dev), external_deleter(std::move(deleter)), external(true) {}

Storage::~Storage() {
  if (!external) {
    backend::get(device).deallocate(data, nbytes);
  } else if (external_deleter) {
    external_deleter(data);
  }
}

}  // namespace detail

Tensor Tensor::from_storage(std::shared_ptr<detail::Storage> storage, Shape shape, Shape strides,
                            int64_t offset, DType dtype) {
  auto impl = std::make_shared<detail::TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, Device device,
                         std::function<void(void*)> deleter) {
  const size_t bytes = checked_nbytes(shape, dtype_size(dtype), "from_blob");
  ONESTEP_CHECK(data != nullptr || bytes == 0, "from_blob: null data for shape {}",
                shape_str(shape));
  auto storage = std::make_shared<detail::Storage>(data, bytes, device, std::move(deleter));
  return from_storage(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

detail::TensorImpl& Tensor::checked() const {
  ONESTEP_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const {
  return shape()[wrap_dim(d, dim(), "size")];
}

bool Tensor::is_contiguous() const {
  const auto& t = checked();
  int64_t expected = 1;
  for (size_t i = t.shape.size(); i-- > 0;) {
    if (t.shape[i] == 1) continue;
    if (t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  const auto& t = checked();
  return static_cast<char*>(t.storage->data) + t.offset * static_cast<int64_t>(dtype_size(t.dtype));
}

template <class T>
T* Tensor::data() const {
  ONESTEP_CHECK(dtype() == dtype_of<T>::value, "data<{}>() on a {} tensor",
                dtype_name(dtype_of<T>::value), dtype_name(dtype()));
  ONESTEP_CHECK(device().is_cpu(), "data() needs a CPU tensor, this one is on {}; use .to()",
                device().str());
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;

bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  NoGradGuard no_grad;
  const Tensor host = to(Device::cpu()).to(dtype_of<T>::value).contiguous();
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

double Tensor::item() const {
  ONESTEP_CHECK(numel() == 1, "item(): expected a one-element tensor, got shape {}",
                shape_str(shape()));
  return to_vector<double>()[0];
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  detail::backend_of(out).copy(*this, out);
  autograd::record("clone", {*this}, out, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target, device());
  detail::backend_of(out).copy(*this, out);
  if (is_floating(dtype()) && is_floating(target)) {
    const DType source = dtype();
    autograd::record("to_dtype", {*this}, out,
                     [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
  }
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  const Tensor src = contiguous();
  Tensor out = empty(shape(), dtype(), target);
  const size_t bytes = static_cast<size_t>(numel()) * dtype_size(dtype());
  if (src.device().is_cpu()) {
    detail::backend_of(out).copy_from_host(out.raw_data(), src.raw_data(), bytes);
  } else if (target.is_cpu()) {
    detail::backend_of(src).copy_to_host(out.raw_data(), src.raw_data(), bytes);
  } else {
    const Tensor staged = src.to(Device::cpu());
    detail::backend_of(out).copy_from_host(out.raw_data(), staged.raw_data(), bytes);
  }
  const Device source = device();
  autograd::record("to_device", {*this}, out,
                   [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
  return out;
}

// --- autograd accessors

const Tensor& Tensor::set_requires_grad(bool requires_grad) const {
  auto& t = checked();
  ONESTEP_CHECK(t.autograd.grad_fn == nullptr,
                "set_requires_grad: only leaf tensors can be toggled (this one is the result of "
                "{}); use detach() for a leaf copy",
                grad_fn_name());
  ONESTEP_CHECK(!requires_grad || is_floating(t.dtype),
                "set_requires_grad: only floating-point tensors can require grad, got {}",
                dtype_name(t.dtype));
  t.autograd.requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::grad() const {
  const auto& g = checked().autograd.grad;
  return g ? Tensor(g) : Tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  if (!grad.defined()) {
    checked().autograd.grad.reset();
    return;
  }
  ONESTEP_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(),
                "set_grad: gradient {} {} on {} does not match tensor {} {} on {}",
                shape_str(grad.shape()), dtype_name(grad.dtype()), grad.device().str(),
                shape_str(shape()), dtype_name(dtype()), device().str());
  checked().autograd.grad = grad.impl_ptr();
}

void Tensor::zero_grad() const {
  checked().autograd.grad.reset();
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward({*this},
                     gradient.defined() ? std::vector<Tensor>{gradient} : std::vector<Tensor>{},
                     retain_graph);
}

Tensor Tensor::detach() const {
  const auto& t = checked();
  return from_storage(t.storage, t.shape, t.strides, t.offset, t.dtype);
}

void Tensor::set_data(const Tensor& source) const {
  auto& t = checked();
  ONESTEP_CHECK(t.autograd.grad_fn == nullptr, "set_data: only leaves can take new data");
  detail::check_defined("set_data", source, "source");
  ONESTEP_CHECK(!t.autograd.requires_grad || is_floating(source.dtype()),
                "set_data: a tensor that requires grad needs floating-point data, got {}",
                dtype_name(source.dtype()));
  const auto& s = *source.impl();
  t.storage = s.storage;
  t.shape = s.shape;
  t.strides = s.strides;
  t.offset = s.offset;
  t.dtype = s.dtype;
  t.autograd.grad.reset();
}

std::string Tensor::grad_fn_name() const {
  const auto& fn = checked().autograd.grad_fn;
  return fn ? fn->name() : std::string("none");
}

// --- in-place writes

void Tensor::check_inplace(const char* op) const {
  const auto& t = checked();
  ONESTEP_CHECK(!(grad_mode_enabled() && (t.autograd.requires_grad || t.autograd.grad_fn)),
                "{}: in-place write into a tensor that requires grad (shape {}); wrap it in "
                "NoGradGuard or use the out-of-place op",
                op, shape_str(t.shape));
  for (size_t d = 0; d < t.shape.size(); ++d)
    ONESTEP_CHECK(t.strides[d] != 0 || t.shape[d] <= 1,
                  "{}: in-place write into an expanded view (shape {}, dim {} has stride 0)", op,
                  shape_str(t.shape), d);
}

void Tensor::bump_version() const {
  ++checked().storage->version;
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  check_inplace("copy_");
  detail::check_defined("copy_", src, "source");
  Tensor source = src.detach();
  if (source.device() != device()) source = source.to(device());
  ONESTEP_CHECK(broadcast_shapes(source.shape(), shape(), "copy_") == shape(),
                "copy_: source shape {} does not broadcast to {}", shape_str(source.shape()),
                shape_str(shape()));
  source = source.expand(shape());
  detail::backend_of(*this).copy(source, *this);
  bump_version();
  return *this;
}

const Tensor& Tensor::fill_(double value) const {
  check_inplace("fill_");
  detail::backend_of(*this).fill(*this, value);
  bump_version();
  return *this;
}

const Tensor& Tensor::add_(const Tensor& other, double alpha) const {
  check_inplace("add_");
  detail::common_device("add_", {this, &other});
  detail::check_same_dtype("add_", *this, other);
  ONESTEP_CHECK(broadcast_shapes(other.shape(), shape(), "add_") == shape(),
                "add_: shape {} does not broadcast to {}", shape_str(other.shape()),
                shape_str(shape()));
  Tensor addend = other.detach();
  if (alpha != 1.0) {
    NoGradGuard no_grad;
    addend = affine(addend, alpha, 0.0);
  }
  detail::backend_of(*this).binary(backend::BinaryOp::add, *this, addend.expand(shape()), *this);
  bump_version();
  return *this;
}

const Tensor& Tensor::mul_(double factor) const {
  check_inplace("mul_");
  detail::backend_of(*this).unary(backend::UnaryOp::affine, *this, *this, factor, 0.0);
  bump_version();
  return *this;
}

// --- printing

namespace {

void print_values(std::ostream& os, const std::vector<double>& values, const Shape& shape,
                  size_t dim, int64_t offset, const Shape& strides, bool integer, int indent) {
  constexpr int64_t kEdge = 3;
  const int64_t n = shape[dim];
  const bool summarise = shape_numel(shape) > 1000 && n > 2 * kEdge;
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && i == kEdge) {
      os << (dim + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdge;
    }
    if (dim + 1 == shape.size()) {
      const double v = values[offset + i * strides[dim]];
      os << (integer ? fmt::format("{}", static_cast<int64_t>(v)) : fmt::format("{:.6g}", v));
    } else {
      print_values(os, values, shape, dim + 1, offset + i * strides[dim], strides, integer,
                   indent + 1);
    }
    if (i + 1 < n) os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype())
     << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ")\n";
  const std::vector<double> values = to_vector<double>();
  if (dim() == 0) {
    os << fmt::format("{:.6g}", values[0]);
  } else {
    print_values(os, values, shape(), 0, 0, contiguous_strides(shape()), dtype() == DType::i64, 0);
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

}  // namespace onestep
