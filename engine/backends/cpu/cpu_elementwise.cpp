// Unary, binary and where kernels. Contiguous runs go through Eigen array expressions
// (vectorised exp/log/tanh/...); strided runs fall back to scalar loops.

#include <Eigen/Core>
#include <cmath>

#include "cpu_backend.h"
#include "strided_loop.h"

namespace onestep::cpu_backend {

using backend::BinaryOp;
using backend::UnaryOp;

namespace {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Applies scalar_fn on strided runs and array_fn on contiguous ones.
template <class T, class ScalarFn, class ArrayFn>
void unary_loop(const Tensor& x, const Tensor& out, const ScalarFn& scalar_fn,
                const ArrayFn& array_fn) {
  const auto plan = make_plan<2>(out.shape(), {&out.strides(), &x.strides()});
  T* po = typed<T>(out);
  const T* px = typed<T>(x);
  parallel_iterate(
      plan, [&](const std::array<int64_t, 2>& o, int64_t n, const std::array<int64_t, 2>& s) {
        if (s[0] == 1 && s[1] == 1) {
          ArrayMap<T>(po + o[0], n) = array_fn(ConstArrayMap<T>(px + o[1], n));
        } else {
          for (int64_t i = 0; i < n; ++i) po[o[0] + i * s[0]] = scalar_fn(px[o[1] + i * s[1]]);
        }
      });
}

template <class T>
T scalar_softplus(T v) {
  return std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v)));
}
template <class T>
T scalar_sigmoid(T v) {
  return v >= 0 ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));
}

// An op whose scalar form is std::NAME and whose Eigen array method is NAME().
#define ONESTEP_STD_AND_EIGEN_UNARY(NAME) \
  unary_loop<T>(                          \
      x, out, [](T v) { return std::NAME(v); }, [](const auto& a) { return a.NAME(); })

template <class T>
void unary_floating(UnaryOp op, const Tensor& x, const Tensor& out, T p0, T p1) {
  switch (op) {
    case UnaryOp::affine:
      return unary_loop<T>(
          x, out, [=](T v) { return v * p0 + p1; }, [=](const auto& a) { return a * p0 + p1; });
    case UnaryOp::pow:
      if (p0 == T(2))
        return unary_loop<T>(
            x, out, [](T v) { return v * v; }, [](const auto& a) { return a.square(); });
      if (p0 == T(0.5))
        return unary_loop<T>(
            x, out, [](T v) { return std::sqrt(v); }, [](const auto& a) { return a.sqrt(); });
      if (p0 == T(-1))
        return unary_loop<T>(
            x, out, [](T v) { return T(1) / v; }, [](const auto& a) { return a.inverse(); });
      return unary_loop<T>(
          x, out, [=](T v) { return std::pow(v, p0); }, [=](const auto& a) { return a.pow(p0); });
    case UnaryOp::clamp:
      return unary_loop<T>(
          x, out, [=](T v) { return std::min(std::max(v, p0), p1); },
          [=](const auto& a) { return a.max(p0).min(p1); });
    case UnaryOp::exp:
      return ONESTEP_STD_AND_EIGEN_UNARY(exp);
    case UnaryOp::log:
      return ONESTEP_STD_AND_EIGEN_UNARY(log);
    case UnaryOp::sin:
      return ONESTEP_STD_AND_EIGEN_UNARY(sin);
    case UnaryOp::cos:
      return ONESTEP_STD_AND_EIGEN_UNARY(cos);
    case UnaryOp::sqrt:
      return ONESTEP_STD_AND_EIGEN_UNARY(sqrt);
    case UnaryOp::rsqrt:
      return unary_loop<T>(
          x, out, [](T v) { return T(1) / std::sqrt(v); }, [](const auto& a) { return a.rsqrt(); });
    case UnaryOp::abs:
      return ONESTEP_STD_AND_EIGEN_UNARY(abs);
    case UnaryOp::sign:
      return unary_loop<T>(
          x, out, [](T v) { return T((v > 0) - (v < 0)); }, [](const auto& a) { return a.sign(); });
    case UnaryOp::sigmoid:
      return unary_loop<T>(
          x, out, [](T v) { return scalar_sigmoid(v); },
          [](const auto& a) { return a.logistic(); });
    case UnaryOp::softplus:
      return unary_loop<T>(
          x, out, [](T v) { return scalar_softplus(v); },
          [](const auto& a) { return a.max(T(0)) + (-a.abs()).exp().log1p(); });
    case UnaryOp::tanh:
      return unary_loop<T>(
          x, out, [](T v) { return std::tanh(v); }, [](const auto& a) { return a.tanh(); });
    case UnaryOp::silu:
      return unary_loop<T>(
          x, out, [](T v) { return v * scalar_sigmoid(v); },
          [](const auto& a) { return a * a.logistic(); });
    case UnaryOp::relu:
      return unary_loop<T>(
          x, out, [](T v) { return v > 0 ? v : T(0); }, [](const auto& a) { return a.max(T(0)); });
    case UnaryOp::reciprocal:
      return unary_loop<T>(
          x, out, [](T v) { return T(1) / v; }, [](const auto& a) { return a.inverse(); });
    case UnaryOp::isfinite:
      return unary_loop<T>(
          x, out, [](T v) { return T(std::isfinite(v)); },
          [](const auto& a) { return a.isFinite().template cast<T>(); });
    case UnaryOp::gt_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v > p0); },
          [=](const auto& a) { return (a > p0).template cast<T>(); });
    case UnaryOp::lt_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v < p0); },
          [=](const auto& a) { return (a < p0).template cast<T>(); });
    case UnaryOp::ge_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v >= p0); },
          [=](const auto& a) { return (a >= p0).template cast<T>(); });
    case UnaryOp::le_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v <= p0); },
          [=](const auto& a) { return (a <= p0).template cast<T>(); });
    case UnaryOp::eq_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v == p0); },
          [=](const auto& a) { return (a == p0).template cast<T>(); });
  }
}
#undef ONESTEP_STD_AND_EIGEN_UNARY

// Integers support the ops that are exact on them.
void unary_integer(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  using T = int64_t;
  const backend::IntegerScalars scalars = backend::integer_scalars(op, p0, p1);
  const T a = scalars.a, b = scalars.b;
  switch (op) {
    case UnaryOp::affine:
      return unary_loop<T>(
          x, out, [=](T v) { return v * a + b; }, [=](const auto& m) { return m * a + b; });
    case UnaryOp::abs:
      return unary_loop<T>(
          x, out, [](T v) { return v < 0 ? -v : v; }, [](const auto& m) { return m.abs(); });
    case UnaryOp::sign:
      return unary_loop<T>(
          x, out, [](T v) { return T((v > 0) - (v < 0)); }, [](const auto& m) { return m.sign(); });
    case UnaryOp::clamp:
      return unary_loop<T>(
          x, out, [=](T v) { return std::min(std::max(v, a), b); },
          [=](const auto& m) { return m.max(a).min(b); });
    case UnaryOp::gt_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v > p0); },
          [=](const auto& m) { return (m.template cast<double>() > p0).template cast<T>(); });
    case UnaryOp::lt_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v < p0); },
          [=](const auto& m) { return (m.template cast<double>() < p0).template cast<T>(); });
    case UnaryOp::ge_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v >= p0); },
          [=](const auto& m) { return (m.template cast<double>() >= p0).template cast<T>(); });
    case UnaryOp::le_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v <= p0); },
          [=](const auto& m) { return (m.template cast<double>() <= p0).template cast<T>(); });
    case UnaryOp::eq_scalar:
      return unary_loop<T>(
          x, out, [=](T v) { return T(v == p0); },
          [=](const auto& m) { return (m.template cast<double>() == p0).template cast<T>(); });
    default:
      ONESTEP_FAIL("this elementwise op expects a floating-point tensor (f32 or f64), got i64");
  }
}

// Applies scalar_fn on strided runs and array_fn on contiguous ones (a scalar operand broadcast
// along a run becomes an Eigen constant).
template <class T, class ScalarFn, class ArrayFn>
void binary_loop(const Tensor& a, const Tensor& b, const Tensor& out, const ScalarFn& scalar_fn,
                 const ArrayFn& array_fn) {
  const auto plan = make_plan<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
  T* po = typed<T>(out);
  const T* pa = typed<T>(a);
  const T* pb = typed<T>(b);
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  parallel_iterate(
      plan, [&](const std::array<int64_t, 3>& o, int64_t n, const std::array<int64_t, 3>& s) {
        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
          ArrayMap<T>(po + o[0], n) =
              array_fn(ConstArrayMap<T>(pa + o[1], n), ConstArrayMap<T>(pb + o[2], n));
        } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
          ArrayMap<T>(po + o[0], n) =
              array_fn(ConstArrayMap<T>(pa + o[1], n), Array::Constant(n, pb[o[2]]));
        } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
          ArrayMap<T>(po + o[0], n) =
              array_fn(Array::Constant(n, pa[o[1]]), ConstArrayMap<T>(pb + o[2], n));
        } else {
          for (int64_t i = 0; i < n; ++i)
            po[o[0] + i * s[0]] = scalar_fn(pa[o[1] + i * s[1]], pb[o[2] + i * s[2]]);
        }
      });
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (op) {
    case BinaryOp::add:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return x + y; },
          [](const auto& x, const auto& y) { return x + y; });
    case BinaryOp::sub:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return x - y; },
          [](const auto& x, const auto& y) { return x - y; });
    case BinaryOp::mul:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return x * y; },
          [](const auto& x, const auto& y) { return x * y; });
    case BinaryOp::div:
      if constexpr (std::is_integral_v<T>) {
        ONESTEP_FAIL("div expects floating-point tensors (f32 or f64), got i64");
      } else {
        return binary_loop<T>(
            a, b, out, [](T x, T y) { return x / y; },
            [](const auto& x, const auto& y) { return x / y; });
      }
    case BinaryOp::minimum:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return std::min(x, y); },
          [](const auto& x, const auto& y) { return x.min(y); });
    case BinaryOp::maximum:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return std::max(x, y); },
          [](const auto& x, const auto& y) { return x.max(y); });
    case BinaryOp::gt:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return T(x > y); },
          [](const auto& x, const auto& y) { return (x > y).template cast<T>(); });
    case BinaryOp::lt:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return T(x < y); },
          [](const auto& x, const auto& y) { return (x < y).template cast<T>(); });
    case BinaryOp::ge:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return T(x >= y); },
          [](const auto& x, const auto& y) { return (x >= y).template cast<T>(); });
    case BinaryOp::le:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return T(x <= y); },
          [](const auto& x, const auto& y) { return (x <= y).template cast<T>(); });
    case BinaryOp::eq:
      return binary_loop<T>(
          a, b, out, [](T x, T y) { return T(x == y); },
          [](const auto& x, const auto& y) { return (x == y).template cast<T>(); });
  }
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  switch (x.dtype()) {
    case DType::f32:
      return unary_floating<float>(op, x, out, static_cast<float>(p0), static_cast<float>(p1));
    case DType::f64:
      return unary_floating<double>(op, x, out, p0, p1);
    case DType::i64:
      return unary_integer(op, x, out, p0, p1);
  }
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_dtype(out.dtype(), [&](auto tag) { binary_typed<decltype(tag)>(op, a, b, out); });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const auto plan =
      make_plan<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()});
  dispatch_dtypes(out.dtype(), cond.dtype(), [&](auto tag, auto cond_tag) {
    using T = decltype(tag);
    using C = decltype(cond_tag);
    T* po = typed<T>(out);
    const C* pc = typed<C>(cond);
    const T* pa = typed<T>(a);
    const T* pb = typed<T>(b);
    parallel_iterate(
        plan, [&](const std::array<int64_t, 4>& o, int64_t n, const std::array<int64_t, 4>& s) {
          for (int64_t i = 0; i < n; ++i)
            po[o[0] + i * s[0]] =
                pc[o[1] + i * s[1]] != C(0) ? pa[o[2] + i * s[2]] : pb[o[3] + i * s[3]];
        });
  });
}

}  // namespace onestep::cpu_backend
