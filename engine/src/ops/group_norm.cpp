// group_norm and group_norm_silu: fused kernels forward and backward on backends that have them
// (the CPU and CUDA), the composite of recorded ops (reference::group_norm) elsewhere.

#include "onestep/engine/elementwise.h"
#include "onestep/engine/nn_functional.h"
#include "op_helpers.h"

namespace onestep {

using Grads = std::vector<Tensor>;

namespace {

void check_group_norm(const char* op, const Tensor& x, int64_t groups, const Tensor& weight,
                      const Tensor& bias, double eps) {
  detail::check_defined(op, x, "input");
  detail::check_floating(op, x);
  ONESTEP_CHECK(x.dim() >= 2, "{}: input must be [N, C, ...], got {}", op, shape_str(x.shape()));
  const int64_t C = x.size(1);
  ONESTEP_CHECK(groups >= 1 && C % groups == 0, "{}: {} channels do not split into {} groups", op,
                C, groups);
  ONESTEP_CHECK(eps >= 0, "{}: eps must be non-negative, got {}", op, eps);
  detail::common_device(op, {&x, &weight, &bias});
  for (const Tensor* p : {&weight, &bias})
    if (p->defined()) {
      ONESTEP_CHECK(p->dim() == 1 && p->size(0) == C,
                    "{}: affine parameter {} does not match {} channels", op, shape_str(p->shape()),
                    C);
      detail::check_same_dtype(op, x, *p);
    }
}

Tensor contiguous_or_undefined(const Tensor& t) {
  return t.defined() ? t.detach().contiguous() : Tensor();
}

Tensor fused(const char* op, const Tensor& x, int64_t groups, const Tensor& weight,
             const Tensor& bias, double eps, bool silu) {
  check_group_norm(op, x, groups, weight, bias, eps);
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(N * C, 1);
  backend::Backend& be = detail::backend_of(x);
  const Tensor xc = x.detach().contiguous().reshape({N, C, S});
  const Tensor wc = contiguous_or_undefined(weight), bc = contiguous_or_undefined(bias);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  const Tensor mean = empty({N, groups}, x.dtype(), x.device());
  const Tensor rstd = empty({N, groups}, x.dtype(), x.device());
  if (x.numel() == 0 ||
      !be.group_norm_forward(xc, wc, bc, groups, eps, silu, out.view({N, C, S}), mean, rstd)) {
    const Tensor y = reference::group_norm(x, groups, weight, bias, eps);
    return silu ? onestep::silu(y) : y;
  }
  autograd::record(
      op, {x, weight, bias}, out,
      [sx = detail::SavedTensor(xc), sw = detail::SavedTensor(wc), sb = detail::SavedTensor(bc),
       sm = detail::SavedTensor(mean), sr = detail::SavedTensor(rstd), shape = x.shape(), groups,
       silu, nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
       nb = bias.defined() && bias.requires_grad()](const Tensor& g) {
        const Tensor& xs = sx.get();
        const Tensor gc = g.contiguous().reshape(xs.shape());
        Tensor gx, gw, gb;
        if (nx) gx = empty(shape, xs.dtype(), xs.device());
        if (nw) gw = empty({xs.size(1)}, xs.dtype(), xs.device());
        if (nb) gb = empty({xs.size(1)}, xs.dtype(), xs.device());
        detail::backend_of(xs).group_norm_backward(gc, xs, sw.get(), sb.get(), sm.get(), sr.get(),
                                                   groups, silu,
                                                   nx ? gx.view(xs.shape()) : Tensor(), gw, gb);
        return Grads{gx, gw, gb};
      });
  return out;
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  return fused("group_norm", x, groups, weight, bias, eps, false);
}

Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                       double eps) {
  return fused("group_norm_silu", x, groups, weight, bias, eps, true);
}

}  // namespace onestep
