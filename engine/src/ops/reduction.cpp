// sum, mean, amax, amin, var, sum_to.

#include "onestep/engine/reduction.h"

#include "onestep/engine/elementwise.h"
#include "op_helpers.h"

namespace onestep {

using backend::ReduceOp;
using detail::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {

Shape keepdim_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out = shape;
  for (int64_t d : dims) out[d] = 1;
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(shape[d]);
  return out;
}

// Reduces into a fresh contiguous tensor of the keepdim shape, then drops the reduced dims
// unless keepdim (a metadata change, not a recorded op).
Tensor reduce_forward(ReduceOp op, const char* name, const Tensor& x,
                      const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = empty(keepdim_shape(x.shape(), dims), x.dtype(), x.device());
  detail::backend_of(out).reduce(op, x, dims, out);
  if (keepdim) return out;
  const Shape shape = reduced_shape(x.shape(), dims);
  return Tensor::from_storage(out.impl()->storage, shape, contiguous_strides(shape), 0, x.dtype());
}

int64_t reduced_count(const Tensor& x, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  return n;
}

Tensor extreme(ReduceOp op, const char* name, const Tensor& x, const std::vector<int64_t>& dims,
               bool keepdim) {
  detail::check_defined(name, x, "input");
  const auto d = normalize_dims(dims, x.dim(), name);
  ONESTEP_CHECK(reduced_count(x, d) > 0, "{}: reduction over an empty dim of shape {}", name,
                shape_str(x.shape()));
  Tensor y = reduce_forward(op, name, x, d, keepdim);
  autograd::record(name, {x}, y, [sx = SavedTensor(x), sy = SavedTensor(y), d](const Tensor& g) {
    const Tensor& x = sx.get();
    const Shape keep = keepdim_shape(x.shape(), d);
    // Ties share the gradient equally.
    const Tensor mask = eq(x, sy.get().reshape(keep).expand(x.shape()));
    const Tensor count = sum(mask, d, true);
    return Grads{g.reshape(keep).expand(x.shape()) * mask / count};
  });
  return y;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_defined("sum", x, "input");
  const auto d = normalize_dims(dims, x.dim(), "sum");
  Tensor y = reduce_forward(ReduceOp::sum, "sum", x, d, keepdim);
  autograd::record("sum", {x}, y, [shape = x.shape(), d](const Tensor& g) {
    return Grads{g.reshape(keepdim_shape(shape, d)).expand(shape)};
  });
  return y;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_defined("mean", x, "input");
  detail::check_floating("mean", x);
  const auto d = normalize_dims(dims, x.dim(), "mean");
  return sum(x, d, keepdim) * (1.0 / static_cast<double>(reduced_count(x, d)));
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(ReduceOp::max, "amax", x, dims, keepdim);
}

Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(ReduceOp::min, "amin", x, dims, keepdim);
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  detail::check_defined("var", x, "input");
  detail::check_floating("var", x);
  ONESTEP_CHECK(correction >= 0, "var: correction must be non-negative, got {}", correction);
  const auto d = normalize_dims(dims, x.dim(), "var");
  const Tensor centred = x - mean(x, d, true);
  const double divisor =
      static_cast<double>(std::max<int64_t>(reduced_count(x, d) - correction, 0));
  return sum(centred * centred, d, keepdim) / divisor;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  detail::check_defined("sum_to", x, "input");
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  ONESTEP_CHECK(lead >= 0, "sum_to: cannot sum shape {} to the larger shape {}",
                shape_str(x.shape()), shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t target = shape[i - lead];
    ONESTEP_CHECK(target == x.size(i) || target == 1, "sum_to: shape {} does not broadcast to {}",
                  shape_str(shape), shape_str(x.shape()));
    if (target == 1 && x.size(i) != 1) dims.push_back(i);
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace onestep
