// conv2d (im2col + GEMM in the backend), avg_pool2d and upsample_nearest2d (composites).

#include "onestep/engine/conv.h"

#include "onestep/engine/elementwise.h"
#include "onestep/engine/reduction.h"
#include "op_helpers.h"

namespace onestep {

using detail::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {
// t itself when each sample's [C, H, W] block is contiguous (what the backend needs), else a copy.
Tensor samples_contiguous(const Tensor& t) {
  const int64_t C = t.size(1), H = t.size(2), W = t.size(3);
  const auto& s = t.strides();
  const bool ok = (W == 1 || s[3] == 1) && (H == 1 || s[2] == W) && (C == 1 || s[1] == H * W) &&
                  (t.size(0) == 1 || s[0] >= C * H * W);
  return ok ? t : t.contiguous();
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding) {
  detail::check_defined("conv2d", x, "input");
  detail::check_defined("conv2d", weight, "weight");
  detail::common_device("conv2d", {&x, &weight, &bias});
  detail::check_dim("conv2d", x, 4, "input [N, C, H, W]");
  detail::check_dim("conv2d", weight, 4, "weight [O, C, kh, kw]");
  detail::check_same_dtype("conv2d", x, weight);
  detail::check_floating("conv2d", x);
  ONESTEP_CHECK(x.size(1) == weight.size(1),
                "conv2d: input {} has {} channels, weight {} expects {}", shape_str(x.shape()),
                x.size(1), shape_str(weight.shape()), weight.size(1));
  ONESTEP_CHECK(stride >= 1 && padding >= 0,
                "conv2d: stride must be >= 1 and padding >= 0, got {} and {}", stride, padding);
  const int64_t N = x.size(0), O = weight.size(0);
  const int64_t Ho = (x.size(2) + 2 * padding - weight.size(2)) / stride + 1;
  const int64_t Wo = (x.size(3) + 2 * padding - weight.size(3)) / stride + 1;
  ONESTEP_CHECK(
      x.size(2) + 2 * padding >= weight.size(2) && x.size(3) + 2 * padding >= weight.size(3),
      "conv2d: kernel {}x{} larger than the padded input {}x{}", weight.size(2), weight.size(3),
      x.size(2) + 2 * padding, x.size(3) + 2 * padding);
  if (bias.defined()) {
    detail::check_same_dtype("conv2d", x, bias);
    ONESTEP_CHECK(bias.dim() == 1 && bias.size(0) == O,
                  "conv2d: bias {} does not match {} output channels", shape_str(bias.shape()), O);
  }
  const backend::ConvGeometry geometry{stride, padding};
  const Tensor xc = samples_contiguous(x.detach()), wc = weight.detach().contiguous();
  Tensor out = empty({N, O, Ho, Wo}, x.dtype(), x.device());
  auto& be = detail::backend_of(out);
  if (!bias.defined() ||
      !be.conv2d_forward_with_bias(xc, wc, bias.detach().contiguous(), out, geometry)) {
    be.conv2d_forward(xc, wc, out, geometry);
    if (bias.defined())
      be.binary(backend::BinaryOp::add, out, bias.detach().view({1, O, 1, 1}).expand(out.shape()),
                out);
  }
  autograd::record(
      "conv2d", {x, weight, bias}, out,
      [sx = SavedTensor(xc), sw = SavedTensor(wc), geometry, nx = x.requires_grad(),
       nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad()](const Tensor& g) {
        const Tensor gc = samples_contiguous(g);
        const Tensor& x = sx.get();
        const Tensor& w = sw.get();
        Tensor gx, gw, gb;
        if (nx) {
          gx = empty(x.shape(), x.dtype(), x.device());
          detail::backend_of(gx).conv2d_backward_input(gc, w, gx, geometry);
        }
        if (nw) {
          gw = empty(w.shape(), w.dtype(), w.device());
          detail::backend_of(gw).conv2d_backward_weight(gc, x, gw, geometry);
        }
        if (nb) gb = sum(gc, {0, 2, 3});
        return Grads{gx, gw, gb};
      });
  return out;
}

Tensor avg_pool2d(const Tensor& x) {
  detail::check_defined("avg_pool2d", x, "input");
  detail::check_dim("avg_pool2d", x, 4, "input [N, C, H, W]");
  ONESTEP_CHECK(x.size(2) % 2 == 0 && x.size(3) % 2 == 0,
                "avg_pool2d: height and width must be even, got {}", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  return mean(x.reshape({N, C, H / 2, 2, W / 2, 2}), {3, 5});
}

Tensor upsample_nearest2d(const Tensor& x) {
  detail::check_defined("upsample_nearest2d", x, "input");
  detail::check_dim("upsample_nearest2d", x, 4, "input [N, C, H, W]");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  return x.reshape({N, C, H, 1, W, 1}).expand({N, C, H, 2, W, 2}).reshape({N, C, 2 * H, 2 * W});
}

}  // namespace onestep
