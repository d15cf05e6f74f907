// concat, stack, split, index_select.

#include "onestep/engine/shape_ops.h"

#include "op_helpers.h"

namespace onestep {

using detail::SavedTensor;
using Grads = std::vector<Tensor>;

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  ONESTEP_CHECK(!tensors.empty(), "concat: no tensors given");
  for (const Tensor& t : tensors) detail::check_defined("concat", t, "input");
  const Tensor& first = tensors[0];
  dim = wrap_dim(dim, first.dim(), "concat");
  Shape shape = first.shape();
  shape[dim] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    detail::common_device("concat", {&first, &t});
    detail::check_same_dtype("concat", first, t);
    ONESTEP_CHECK(t.dim() == first.dim(), "concat: tensor {} has shape {}, tensor 0 has {}", i,
                  shape_str(t.shape()), shape_str(first.shape()));
    for (int64_t d = 0; d < t.dim(); ++d)
      ONESTEP_CHECK(d == dim || t.size(d) == first.size(d),
                    "concat: tensor {} has shape {}, tensor 0 has {} (only dim {} may differ)", i,
                    shape_str(t.shape()), shape_str(first.shape()), dim);
    sizes.push_back(t.size(dim));
    shape[dim] += t.size(dim);
  }
  Tensor out = empty(shape, first.dtype(), first.device());
  auto& be = detail::backend_of(out);
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    be.copy(tensors[i].detach(), out.detach().slice(dim, offset, offset + sizes[i]));
    offset += sizes[i];
  }
  autograd::record("concat", tensors, out, [dim, sizes](const Tensor& g) {
    Grads grads;
    int64_t offset = 0;
    for (int64_t size : sizes) {
      grads.push_back(g.slice(dim, offset, offset + size));
      offset += size;
    }
    return grads;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  ONESTEP_CHECK(!tensors.empty(), "stack: no tensors given");
  for (const Tensor& t : tensors) {
    detail::check_defined("stack", t, "input");
    ONESTEP_CHECK(t.shape() == tensors[0].shape(), "stack: shapes differ: {} vs {}",
                  shape_str(t.shape()), shape_str(tensors[0].shape()));
  }
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) expanded.push_back(t.unsqueeze(dim));
  return concat(expanded, dim);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  detail::check_defined("split", x, "input");
  dim = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    ONESTEP_CHECK(s >= 0, "split: negative size in [{}]", fmt::join(sizes, ", "));
    total += s;
  }
  ONESTEP_CHECK(total == x.size(dim), "split: sizes [{}] sum to {}, dim {} of {} has {}",
                fmt::join(sizes, ", "), total, dim, shape_str(x.shape()), x.size(dim));
  std::vector<Tensor> pieces;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    pieces.push_back(x.slice(dim, offset, offset + s));
    offset += s;
  }
  return pieces;
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim) {
  detail::check_defined("split", x, "input");
  ONESTEP_CHECK(size > 0, "split: piece size must be positive, got {}", size);
  const int64_t n = x.size(dim);
  std::vector<int64_t> sizes;
  for (int64_t offset = 0; offset < n; offset += size) sizes.push_back(std::min(size, n - offset));
  return split(x, sizes, dim);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  detail::check_defined("index_select", x, "input");
  detail::check_defined("index_select", index, "index");
  detail::common_device("index_select", {&x, &index});
  dim = wrap_dim(dim, x.dim(), "index_select");
  ONESTEP_CHECK(index.dtype() == DType::i64 && index.dim() == 1,
                "index_select: index must be a 1-D i64 tensor, got {} {}",
                dtype_name(index.dtype()), shape_str(index.shape()));
  const Tensor idx = index.contiguous();
  const int64_t n = x.size(dim);
  {
    // Bounds are checked on the host: an out-of-range label must be an error, not a wild read.
    const std::vector<int64_t> values = idx.to_vector<int64_t>();
    for (size_t j = 0; j < values.size(); ++j)
      ONESTEP_CHECK(values[j] >= 0 && values[j] < n,
                    "index_select: index[{}] = {} out of range [0, {}) for dim {} of {}", j,
                    values[j], n, dim, shape_str(x.shape()));
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  Shape shape = x.shape();
  shape[dim] = idx.numel();
  Tensor out = empty(shape, x.dtype(), x.device());
  detail::backend_of(out).index_select(x.detach().contiguous(), idx, out, outer, n, inner);
  autograd::record("index_select", {x}, out,
                   [si = SavedTensor(idx), shape = x.shape(), dtype = x.dtype(), outer, n,
                    inner](const Tensor& g) {
                     Tensor grad = zeros(shape, dtype, g.device());
                     detail::backend_of(grad).index_add(g.contiguous(), si.get(), grad, outer, n,
                                                        inner);
                     return Grads{grad};
                   });
  return out;
}

}  // namespace onestep
