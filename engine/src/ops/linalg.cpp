// matmul (batched, broadcasting) and linear.

#include "onestep/engine/linalg.h"

#include "onestep/engine/elementwise.h"
#include "onestep/engine/reduction.h"
#include "op_helpers.h"

namespace onestep {

using detail::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {

// A [B, rows, cols] form of t whose matrices the backend can map directly: a unit stride in one
// matrix dim and no stride-0 matrix dims; a contiguous copy when the view does not allow it.
Tensor as_batched_matrices(const Tensor& t, int64_t batch) {
  const int64_t rows = t.size(-2), cols = t.size(-1);
  Tensor three_d;
  try {
    three_d = t.view({batch, rows, cols});
  } catch (const Error&) {
    three_d = t.contiguous().view({batch, rows, cols});
  }
  const int64_t rs = three_d.strides()[1], cs = three_d.strides()[2];
  const bool unit = cs == 1 || cols == 1 || rs == 1 || rows == 1;
  const bool positive = (rows == 1 || rs > 0) && (cols == 1 || cs > 0);
  return unit && positive ? three_d : three_d.contiguous();
}

Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  const int64_t B = shape_numel(batch);
  Shape shape_a = batch, shape_b = batch, shape_out = batch;
  shape_a.insert(shape_a.end(), {M, K});
  shape_b.insert(shape_b.end(), {K, N});
  shape_out.insert(shape_out.end(), {M, N});
  Tensor out = empty({B, M, N}, a.dtype(), a.device());
  const Tensor a3 = as_batched_matrices(a.detach().expand(shape_a), B);
  const Tensor b3 = as_batched_matrices(b.detach().expand(shape_b), B);
  detail::backend_of(out).matmul(a3, b3, out);
  return Tensor::from_storage(out.impl()->storage, shape_out, contiguous_strides(shape_out), 0,
                              out.dtype());
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_defined("matmul", a, "first operand");
  detail::check_defined("matmul", b, "second operand");
  detail::common_device("matmul", {&a, &b});
  detail::check_same_dtype("matmul", a, b);
  detail::check_floating("matmul", a);
  ONESTEP_CHECK(a.dim() >= 2 && b.dim() >= 2,
                "matmul: both operands need at least 2 dims, got {} and {}", shape_str(a.shape()),
                shape_str(b.shape()));
  ONESTEP_CHECK(a.size(-1) == b.size(-2),
                "matmul: inner sizes differ: {} @ {} ({} columns vs {} rows)", shape_str(a.shape()),
                shape_str(b.shape()), a.size(-1), b.size(-2));
  Tensor out = matmul_forward(a, b);
  autograd::record("matmul", {a, b}, out,
                   [sa = SavedTensor(a), sb = SavedTensor(b), na = a.requires_grad(),
                    nb = b.requires_grad()](const Tensor& g) {
                     const Tensor& a = sa.get();
                     const Tensor& b = sb.get();
                     Tensor ga, gb;
                     if (na) ga = sum_to(matmul(g, b.transpose(-1, -2)), a.shape());
                     if (nb) {
                       if (b.dim() == 2 && a.dim() > 2) {
                         // Shared weight: fold the batch into one GEMM instead of B products
                         // summed afterwards.
                         const Tensor a_flat = a.reshape({-1, a.size(-1)});
                         const Tensor g_flat = g.reshape({-1, g.size(-1)});
                         gb = matmul(a_flat.transpose(0, 1), g_flat);
                       } else {
                         gb = sum_to(matmul(a.transpose(-1, -2), g), b.shape());
                       }
                     }
                     return Grads{ga, gb};
                   });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  detail::check_defined("linear", x, "input");
  detail::check_defined("linear", weight, "weight");
  detail::check_dim("linear", weight, 2, "weight");
  ONESTEP_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1),
                "linear: input {} has {} features, weight {} expects {}", shape_str(x.shape()),
                x.dim() >= 1 ? x.size(-1) : 0, shape_str(weight.shape()), weight.size(1));
  if (bias.defined())
    ONESTEP_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0),
                  "linear: bias {} does not match weight {} (expected [{}])",
                  shape_str(bias.shape()), shape_str(weight.shape()), weight.size(0));
  // Fold leading dims into the rows of one GEMM.
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  const Tensor rows = x.dim() == 2 ? x : x.reshape({-1, x.size(-1)});
  Tensor out = matmul(rows, weight.transpose(0, 1));
  if (bias.defined()) out = out + bias;
  return x.dim() == 2 ? out : out.reshape(out_shape);
}

}  // namespace onestep
