// Elementwise ops and their gradients (written with forward ops, so they serve every device).

#include "onestep/engine/elementwise.h"

#include "onestep/engine/reduction.h"
#include "op_helpers.h"

namespace onestep {

using backend::BinaryOp;
using backend::UnaryOp;
using detail::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {

bool wants(const Tensor& t) {
  return t.defined() && t.requires_grad();
}

Tensor binary_forward(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  detail::check_defined(name, a, "first operand");
  detail::check_defined(name, b, "second operand");
  const Device device = detail::common_device(name, {&a, &b});
  detail::check_same_dtype(name, a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, a.dtype(), device);
  detail::backend_of(out).binary(op, a.detach().expand(shape), b.detach().expand(shape), out);
  return out;
}

Tensor unary_forward(UnaryOp op, const char* name, const Tensor& x, double p0 = 0, double p1 = 0) {
  detail::check_defined(name, x, "input");
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  detail::backend_of(out).unary(op, x, out, p0, p1);
  return out;
}

Tensor floating_unary(UnaryOp op, const char* name, const Tensor& x, double p0 = 0, double p1 = 0) {
  detail::check_defined(name, x, "input");
  detail::check_floating(name, x);
  return unary_forward(op, name, x, p0, p1);
}

// Records a unary op whose gradient is g * derivative(x, y).
template <class Derivative>
void record_unary(const char* name, const Tensor& x, Tensor& y, Derivative derivative) {
  autograd::record(name, {x}, y,
                   [sx = SavedTensor(x), sy = SavedTensor(y), derivative](const Tensor& g) {
                     return Grads{derivative(g, sx.get(), sy.get())};
                   });
}

// A floating-point unary op whose gradient is g * derivative(x, y).
template <class Derivative>
Tensor floating_unary_op(UnaryOp op, const char* name, const Tensor& x, Derivative derivative) {
  Tensor y = floating_unary(op, name, x);
  record_unary(name, x, y, derivative);
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, "add", a, b);
  autograd::record("add", {a, b}, out,
                   [sa = a.shape(), sb = b.shape(), na = wants(a), nb = wants(b)](const Tensor& g) {
                     return Grads{na ? sum_to(g, sa) : Tensor(), nb ? sum_to(g, sb) : Tensor()};
                   });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, "sub", a, b);
  autograd::record(
      "sub", {a, b}, out,
      [sa = a.shape(), sb = b.shape(), na = wants(a), nb = wants(b)](const Tensor& g) {
        return Grads{na ? sum_to(g, sa) : Tensor(), nb ? sum_to(neg(g), sb) : Tensor()};
      });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, "mul", a, b);
  autograd::record(
      "mul", {a, b}, out,
      [sa = SavedTensor(a), sb = SavedTensor(b), na = wants(a), nb = wants(b)](const Tensor& g) {
        const Tensor& a = sa.get();
        const Tensor& b = sb.get();
        return Grads{na ? sum_to(g * b, a.shape()) : Tensor(),
                     nb ? sum_to(g * a, b.shape()) : Tensor()};
      });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  detail::check_floating("div", a);
  Tensor out = binary_forward(BinaryOp::div, "div", a, b);
  autograd::record("div", {a, b}, out,
                   [sb = SavedTensor(b), sy = SavedTensor(out), sa = a.shape(), na = wants(a),
                    nb = wants(b)](const Tensor& g) {
                     const Tensor& b = sb.get();
                     const Tensor g_over_b = g / b;
                     return Grads{na ? sum_to(g_over_b, sa) : Tensor(),
                                  nb ? sum_to(neg(g_over_b * sy.get()), b.shape()) : Tensor()};
                   });
  return out;
}

namespace {
// minimum/maximum: the gradient goes to a where `a_wins` (ties to a), else to b.
Tensor min_max(BinaryOp op, BinaryOp a_wins_op, const char* name, const Tensor& a,
               const Tensor& b) {
  Tensor out = binary_forward(op, name, a, b);
  autograd::record(name, {a, b}, out,
                   [sa = SavedTensor(a), sb = SavedTensor(b), a_wins_op, na = wants(a),
                    nb = wants(b)](const Tensor& g) {
                     const Tensor& a = sa.get();
                     const Tensor& b = sb.get();
                     const Tensor a_wins = binary_forward(a_wins_op, "minmax backward", a, b);
                     const Tensor zero = zeros({}, g.dtype(), g.device());
                     return Grads{na ? sum_to(where(a_wins, g, zero), a.shape()) : Tensor(),
                                  nb ? sum_to(where(a_wins, zero, g), b.shape()) : Tensor()};
                   });
  return out;
}
}  // namespace

Tensor minimum(const Tensor& a, const Tensor& b) {
  return min_max(BinaryOp::minimum, BinaryOp::le, "minimum", a, b);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return min_max(BinaryOp::maximum, BinaryOp::ge, "maximum", a, b);
}

Tensor affine(const Tensor& x, double scale, double shift) {
  Tensor out = unary_forward(UnaryOp::affine, "affine", x, scale, shift);
  autograd::record("affine", {x}, out, [scale](const Tensor& g) { return Grads{g * scale}; });
  return out;
}

Tensor neg(const Tensor& x) {
  return affine(x, -1.0, 0.0);
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor y = floating_unary(UnaryOp::pow, "pow", x, exponent);
  autograd::record("pow", {x}, y, [sx = SavedTensor(x), exponent](const Tensor& g) {
    return Grads{g * pow(sx.get(), exponent - 1.0) * exponent};
  });
  return y;
}

Tensor square(const Tensor& x) {
  return pow(x, 2.0);
}

Tensor reciprocal(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::reciprocal, "reciprocal", x,
      [](const Tensor& g, const Tensor&, const Tensor& y) { return neg(g * y * y); });
}

Tensor exp(const Tensor& x) {
  return floating_unary_op(UnaryOp::exp, "exp", x,
                           [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y; });
}

Tensor log(const Tensor& x) {
  return floating_unary_op(UnaryOp::log, "log", x,
                           [](const Tensor& g, const Tensor& x, const Tensor&) { return g / x; });
}

Tensor sin(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::sin, "sin", x,
      [](const Tensor& g, const Tensor& x, const Tensor&) { return g * cos(x); });
}

Tensor cos(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::cos, "cos", x,
      [](const Tensor& g, const Tensor& x, const Tensor&) { return neg(g * sin(x)); });
}

Tensor sqrt(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::sqrt, "sqrt", x,
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g / y * 0.5; });
}

Tensor rsqrt(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::rsqrt, "rsqrt", x,
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y * y * y * -0.5; });
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_forward(UnaryOp::abs, "abs", x);
  record_unary("abs", x, y,
               [](const Tensor& g, const Tensor& x, const Tensor&) { return g * sign(x); });
  return y;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  ONESTEP_CHECK(lo <= hi, "clamp: lower bound {} above upper bound {}", lo, hi);
  Tensor y = unary_forward(UnaryOp::clamp, "clamp", x, lo, hi);
  record_unary("clamp", x, y, [lo, hi](const Tensor& g, const Tensor& x, const Tensor&) {
    return g * (ge(x, lo) * le(x, hi));
  });
  return y;
}

Tensor sigmoid(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::sigmoid, "sigmoid", x,
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y * (1.0 - y); });
}

Tensor softplus(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::softplus, "softplus", x,
      [](const Tensor& g, const Tensor& x, const Tensor&) { return g * sigmoid(x); });
}

Tensor tanh(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::tanh, "tanh", x,
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * (1.0 - y * y); });
}

Tensor silu(const Tensor& x) {
  return floating_unary_op(UnaryOp::silu, "silu", x,
                           [](const Tensor& g, const Tensor& x, const Tensor&) {
                             const Tensor s = sigmoid(x);
                             return g * (s * (1.0 + x * (1.0 - s)));
                           });
}

Tensor relu(const Tensor& x) {
  return floating_unary_op(
      UnaryOp::relu, "relu", x,
      [](const Tensor& g, const Tensor& x, const Tensor&) { return g * gt(x, 0.0); });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined("where", cond, "condition");
  detail::check_defined("where", a, "first operand");
  detail::check_defined("where", b, "second operand");
  const Device device = detail::common_device("where", {&cond, &a, &b});
  detail::check_same_dtype("where", a, b);
  const Shape shape =
      broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape(), "where"), "where");
  Tensor out = empty(shape, a.dtype(), device);
  detail::backend_of(out).where(cond.detach().expand(shape), a.detach().expand(shape),
                                b.detach().expand(shape), out);
  autograd::record("where", {a, b}, out,
                   [sc = SavedTensor(cond), sa = a.shape(), sb = b.shape(), na = wants(a),
                    nb = wants(b)](const Tensor& g) {
                     const Tensor zero = zeros({}, g.dtype(), g.device());
                     return Grads{na ? sum_to(where(sc.get(), g, zero), sa) : Tensor(),
                                  nb ? sum_to(where(sc.get(), zero, g), sb) : Tensor()};
                   });
  return out;
}

Tensor gt(const Tensor& a, const Tensor& b) {
  return binary_forward(BinaryOp::gt, "gt", a, b);
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return binary_forward(BinaryOp::lt, "lt", a, b);
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return binary_forward(BinaryOp::ge, "ge", a, b);
}
Tensor le(const Tensor& a, const Tensor& b) {
  return binary_forward(BinaryOp::le, "le", a, b);
}
Tensor eq(const Tensor& a, const Tensor& b) {
  return binary_forward(BinaryOp::eq, "eq", a, b);
}
Tensor gt(const Tensor& a, double b) {
  return unary_forward(UnaryOp::gt_scalar, "gt", a, b);
}
Tensor lt(const Tensor& a, double b) {
  return unary_forward(UnaryOp::lt_scalar, "lt", a, b);
}
Tensor ge(const Tensor& a, double b) {
  return unary_forward(UnaryOp::ge_scalar, "ge", a, b);
}
Tensor le(const Tensor& a, double b) {
  return unary_forward(UnaryOp::le_scalar, "le", a, b);
}
Tensor eq(const Tensor& a, double b) {
  return unary_forward(UnaryOp::eq_scalar, "eq", a, b);
}
Tensor isfinite(const Tensor& x) {
  return floating_unary(UnaryOp::isfinite, "isfinite", x);
}
Tensor sign(const Tensor& x) {
  return unary_forward(UnaryOp::sign, "sign", x);
}

}  // namespace onestep
