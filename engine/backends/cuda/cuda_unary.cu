// Unary elementwise ops: one functor per UnaryOp, the same formulas as the CPU backend's scalar
// loops (cpu_elementwise.cpp), including its NaN behaviour (clamp and relu as written there).

#include "cuda_backend.h"
#include "device_math.cuh"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

using backend::UnaryOp;

namespace {

// out[i] = f(x[i]); operand 0 is out, 1 is x (out may alias x: in-place ops).
template <class T, class F, class Indexer>
__global__ void unary_kernel(T* out, const T* x, F f, Indexer ix, int64_t n) {
  ONESTEP_GRID_STRIDE_LOOP(i, n) {
    typename Indexer::index_type o[2];
    ix.offsets(static_cast<typename Indexer::index_type>(i), o);
    out[o[0]] = f(x[o[1]]);
  }
}

template <class T, class F>
void launch_unary(const CudaBackend& be, const Tensor& x, const Tensor& out, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const auto plan = make_plan<2>(out.shape(), {&out.strides(), &x.strides()}, "unary op");
  with_indexer(plan, [&](auto ix) {
    ONESTEP_LAUNCH(blocks_for(n, be.sm_count()), kThreads, 0, be.stream(),
                   unary_kernel<T, F, decltype(ix)>)(typed<T>(out), typed<T>(x), f, ix, n);
  });
}

// --- functors; T is float, double or int64_t

template <class T>
__device__ __forceinline__ T sigmoid(T v) {
  return v >= 0 ? T(1) / (T(1) + dmath::exp(-v)) : dmath::exp(v) / (T(1) + dmath::exp(v));
}

template <class T>
struct Affine {
  T scale, shift;
  __device__ T operator()(T v) const { return v * scale + shift; }
};
template <class T>
struct Pow {
  T p;
  __device__ T operator()(T v) const { return dmath::pow(v, p); }
};
struct Square {
  template <class T>
  __device__ T operator()(T v) const {
    return v * v;
  }
};
template <class T>
struct Clamp {
  T lo, hi;
  // std::min(std::max(v, lo), hi): a NaN input stays NaN.
  __device__ T operator()(T v) const {
    const T m = v < lo ? lo : v;
    return hi < m ? hi : m;
  }
};

// A functor that is dmath::NAME for float and double.
#define ONESTEP_DMATH_FUNCTOR(STRUCT, NAME) \
  struct STRUCT {                           \
    template <class T>                      \
    __device__ T operator()(T v) const {    \
      return dmath::NAME(v);                \
    }                                       \
  };
ONESTEP_DMATH_FUNCTOR(Exp, exp)
ONESTEP_DMATH_FUNCTOR(Log, log)
ONESTEP_DMATH_FUNCTOR(Sin, sin)
ONESTEP_DMATH_FUNCTOR(Cos, cos)
ONESTEP_DMATH_FUNCTOR(Sqrt, sqrt)

struct Rsqrt {
  // 1 / sqrt, both correctly rounded, rather than the approximate rsqrt instruction.
  template <class T>
  __device__ T operator()(T v) const {
    return T(1) / dmath::sqrt(v);
  }
};
struct Abs {
  template <class T>
  __device__ T operator()(T v) const {
    return v < 0 ? -v : v;
  }
  __device__ float operator()(float v) const { return dmath::fabs(v); }
  __device__ double operator()(double v) const { return dmath::fabs(v); }
};
struct Sign {
  template <class T>
  __device__ T operator()(T v) const {
    return T((v > 0) - (v < 0));
  }
};
struct Sigmoid {
  template <class T>
  __device__ T operator()(T v) const {
    return sigmoid(v);
  }
};
struct Softplus {
  // std::max(v, 0) + log1p(exp(-|v|)): no overflow for large v, no cancellation for very
  // negative v.
  template <class T>
  __device__ T operator()(T v) const {
    return (v < T(0) ? T(0) : v) + dmath::log1p(dmath::exp(-dmath::fabs(v)));
  }
};
ONESTEP_DMATH_FUNCTOR(Tanh, tanh)
#undef ONESTEP_DMATH_FUNCTOR
struct Silu {
  template <class T>
  __device__ T operator()(T v) const {
    return v * sigmoid(v);
  }
};
struct Relu {
  template <class T>
  __device__ T operator()(T v) const {
    return v > 0 ? v : T(0);
  }
};
struct Reciprocal {
  template <class T>
  __device__ T operator()(T v) const {
    return T(1) / v;
  }
};
struct IsFinite {
  template <class T>
  __device__ T operator()(T v) const {
    return T(dmath::isfinite(v));
  }
};

// x <op> p as 1 or 0 (op: gt_scalar ... eq_scalar, the same for every element, so the branch
// costs nothing). P is T for floating x (the CPU compares in the tensor's precision) and double
// for i64 (the CPU compares the integer with the double threshold).
template <class T, class P>
struct CompareScalar {
  P p;
  UnaryOp op;
  __device__ T operator()(T v) const {
    const P value = static_cast<P>(v);
    switch (op) {
      case UnaryOp::gt_scalar:
        return T(value > p);
      case UnaryOp::lt_scalar:
        return T(value < p);
      case UnaryOp::ge_scalar:
        return T(value >= p);
      case UnaryOp::le_scalar:
        return T(value <= p);
      default:
        return T(value == p);
    }
  }
};

// Launches the comparison `op` when it is one; false otherwise.
template <class T, class P>
bool launch_compare(const CudaBackend& be, UnaryOp op, const Tensor& x, const Tensor& out, P p) {
  switch (op) {
    case UnaryOp::gt_scalar:
    case UnaryOp::lt_scalar:
    case UnaryOp::ge_scalar:
    case UnaryOp::le_scalar:
    case UnaryOp::eq_scalar:
      launch_unary<T>(be, x, out, CompareScalar<T, P>{p, op});
      return true;
    default:
      return false;
  }
}

// Launches the ops floating and integer tensors both have, when `op` is one: affine (x * a + b),
// abs, sign and clamp (to [a, b]); false otherwise.
template <class T>
bool launch_common(const CudaBackend& be, UnaryOp op, const Tensor& x, const Tensor& out, T a,
                   T b) {
  const auto launched = [&](auto functor) {
    launch_unary<T>(be, x, out, functor);
    return true;
  };
  if (op == UnaryOp::affine) return launched(Affine<T>{a, b});
  if (op == UnaryOp::abs) return launched(Abs{});
  if (op == UnaryOp::sign) return launched(Sign{});
  if (op == UnaryOp::clamp) return launched(Clamp<T>{a, b});
  return false;
}

template <class T>
void unary_floating(const CudaBackend& be, UnaryOp op, const Tensor& x, const Tensor& out, T p0,
                    T p1) {
  if (launch_common<T>(be, op, x, out, p0, p1)) return;
  switch (op) {
    case UnaryOp::pow:
      // The CPU's special cases, so that square, sqrt and reciprocal through pow round alike.
      if (p0 == T(2)) return launch_unary<T>(be, x, out, Square{});
      if (p0 == T(0.5)) return launch_unary<T>(be, x, out, Sqrt{});
      if (p0 == T(-1)) return launch_unary<T>(be, x, out, Reciprocal{});
      return launch_unary<T>(be, x, out, Pow<T>{p0});
    case UnaryOp::exp:
      return launch_unary<T>(be, x, out, Exp{});
    case UnaryOp::log:
      return launch_unary<T>(be, x, out, Log{});
    case UnaryOp::sin:
      return launch_unary<T>(be, x, out, Sin{});
    case UnaryOp::cos:
      return launch_unary<T>(be, x, out, Cos{});
    case UnaryOp::sqrt:
      return launch_unary<T>(be, x, out, Sqrt{});
    case UnaryOp::rsqrt:
      return launch_unary<T>(be, x, out, Rsqrt{});
    case UnaryOp::sigmoid:
      return launch_unary<T>(be, x, out, Sigmoid{});
    case UnaryOp::softplus:
      return launch_unary<T>(be, x, out, Softplus{});
    case UnaryOp::tanh:
      return launch_unary<T>(be, x, out, Tanh{});
    case UnaryOp::silu:
      return launch_unary<T>(be, x, out, Silu{});
    case UnaryOp::relu:
      return launch_unary<T>(be, x, out, Relu{});
    case UnaryOp::reciprocal:
      return launch_unary<T>(be, x, out, Reciprocal{});
    case UnaryOp::isfinite:
      return launch_unary<T>(be, x, out, IsFinite{});
    case UnaryOp::gt_scalar:
    case UnaryOp::lt_scalar:
    case UnaryOp::ge_scalar:
    case UnaryOp::le_scalar:
    case UnaryOp::eq_scalar:
      launch_compare<T, T>(be, op, x, out, p0);
      return;
    default:  // the ops launch_common launched
      break;
  }
  ONESTEP_FAIL("unary op {} is not implemented on cuda", static_cast<int>(op));
}

// Integers support the ops that are exact on them, as on the CPU.
void unary_integer(const CudaBackend& be, UnaryOp op, const Tensor& x, const Tensor& out, double p0,
                   double p1) {
  const backend::IntegerScalars scalars = backend::integer_scalars(op, p0, p1);
  if (launch_common<int64_t>(be, op, x, out, scalars.a, scalars.b)) return;
  if (launch_compare<int64_t, double>(be, op, x, out, p0)) return;
  ONESTEP_FAIL("this elementwise op expects a floating-point tensor (f32 or f64), got i64");
}

}  // namespace

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  activate();
  switch (x.dtype()) {
    case DType::f32:
      return unary_floating<float>(*this, op, x, out, static_cast<float>(p0),
                                   static_cast<float>(p1));
    case DType::f64:
      return unary_floating<double>(*this, op, x, out, p0, p1);
    case DType::i64:
      return unary_integer(*this, op, x, out, p0, p1);
  }
}

}  // namespace onestep::cuda_backend
