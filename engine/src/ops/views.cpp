// Views: new shape/strides/offset over the same storage, each differentiable.

#include <numeric>
#include <optional>

#include "onestep/engine/reduction.h"
#include "op_helpers.h"

namespace onestep {

namespace {

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  return Tensor::from_storage(base.impl()->storage, std::move(shape), std::move(strides), offset,
                              base.dtype());
}

// Strides that let `shape` view memory laid out as (old_shape, old_strides), if any
// (the rule of PyTorch's computeStride: dims may merge or split only within contiguous chunks).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& shape) {
  if (shape_numel(old_shape) == 0 || old_shape.empty()) return contiguous_strides(shape);
  Shape strides(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(old_shape.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    if (tensor_d == 0 || (old_shape[tensor_d - 1] != 1 &&
                          old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

// Resolves one -1 and checks the element count.
Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from, const char* op) {
  Shape shape = requested;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ONESTEP_CHECK(infer < 0, "{}: only one dim can be -1 in {}", op, shape_str(requested));
      infer = static_cast<int>(i);
    } else {
      ONESTEP_CHECK(shape[i] >= 0, "{}: negative size in {}", op, shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ONESTEP_CHECK(known > 0 && numel % known == 0, "{}: cannot infer -1 in {} for {} elements", op,
                  shape_str(requested), numel);
    shape[infer] = numel / known;
  }
  ONESTEP_CHECK(shape_numel(shape) == numel, "{}: shape {} has {} elements, input {} has {}", op,
                shape_str(shape), shape_numel(shape), shape_str(from), numel);
  return shape;
}

void record_reshape(const Tensor& input, Tensor& out) {
  const Shape in_shape = input.shape();
  autograd::record("reshape", {input}, out, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  const Shape shape = infer_shape(requested, numel(), this->shape(), "view");
  const auto strides = view_strides(this->shape(), this->strides(), shape);
  ONESTEP_CHECK(strides.has_value(),
                "view: shape {} cannot view a tensor of shape {} and strides {} without a copy; "
                "use reshape",
                shape_str(shape), shape_str(this->shape()), shape_str(this->strides()));
  Tensor out = make_view(*this, shape, *strides, offset());
  record_reshape(*this, out);
  return out;
}

Tensor Tensor::reshape(const Shape& requested) const {
  const Shape shape = infer_shape(requested, numel(), this->shape(), "reshape");
  if (shape == this->shape()) return *this;
  if (view_strides(this->shape(), this->strides(), shape)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  const int64_t n = dim();
  ONESTEP_CHECK(static_cast<int64_t>(order.size()) == n,
                "permute: order [{}] has {} dims, tensor {} has {}", fmt::join(order, ", "),
                order.size(), shape_str(shape()), n);
  Shape shape(n), strides(n);
  std::vector<int64_t> inverse(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = wrap_dim(order[i], n, "permute");
    ONESTEP_CHECK(inverse[d] < 0, "permute: dim {} repeated in [{}]", d, fmt::join(order, ", "));
    inverse[d] = i;
    shape[i] = this->shape()[d];
    strides[i] = this->strides()[d];
  }
  Tensor out = make_view(*this, shape, strides, offset());
  autograd::record("permute", {*this}, out,
                   [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
  return out;
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  std::vector<int64_t> order(dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_dim(dim0, dim(), "transpose")], order[wrap_dim(dim1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  ONESTEP_CHECK(step >= 1, "slice: step must be positive, got {}", step);
  const int64_t n = shape()[d];
  // Python semantics: negative indices count from the end, out-of-range bounds are clamped.
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = this->shape(), strides = this->strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Tensor out = make_view(*this, shape, strides, offset() + start * this->strides()[d]);
  const Shape in_shape = this->shape();
  const DType dtype = this->dtype();
  const Device device = this->device();
  autograd::record("slice", {*this}, out, [=](const Tensor& g) {
    Tensor grad = zeros(in_shape, dtype, device);
    grad.slice(d, start, end, step).copy_(g);
    return std::vector<Tensor>{grad};
  });
  return out;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  const int64_t n = shape()[d];
  ONESTEP_CHECK(index >= -n && index < n, "select: index {} out of range for dim {} of size {}",
                index, d, n);
  if (index < 0) index += n;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& requested) const {
  const int64_t n = dim(), m = static_cast<int64_t>(requested.size());
  ONESTEP_CHECK(m >= n, "expand: target {} has fewer dims than {}", shape_str(requested),
                shape_str(shape()));
  Shape shape(m), strides(m);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t j = i - (m - n);  // matching input dim, if any
    const int64_t size = j >= 0 ? this->shape()[j] : 1;
    const int64_t target = requested[i] == -1 && j >= 0 ? size : requested[i];
    ONESTEP_CHECK(target >= 0 && (size == target || size == 1),
                  "expand: cannot expand shape {} to {} (dim {})", shape_str(this->shape()),
                  shape_str(requested), i);
    shape[i] = target;
    strides[i] = (j >= 0 && size == target) ? this->strides()[j] : 0;
  }
  if (shape == this->shape()) return *this;
  checked_nbytes(shape, 1, "expand");
  Tensor out = make_view(*this, shape, strides, offset());
  const Shape in_shape = this->shape();
  autograd::record("expand", {*this}, out, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, in_shape)};
  });
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape shape = this->shape();
  shape.insert(shape.begin() + d, 1);
  return view(shape);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  ONESTEP_CHECK(shape()[d] == 1, "squeeze: dim {} of shape {} has size {}, not 1", d,
                shape_str(shape()), shape()[d]);
  Shape shape = this->shape();
  shape.erase(shape.begin() + d);
  return view(shape);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  ONESTEP_CHECK(start_dim <= end_dim, "flatten: start dim {} after end dim {}", start_dim, end_dim);
  Shape shape(this->shape().begin(), this->shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= this->shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), this->shape().begin() + end_dim + 1, this->shape().end());
  return reshape(shape);
}

}  // namespace onestep
