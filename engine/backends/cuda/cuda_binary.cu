// Binary elementwise ops and where. Operands arrive broadcast to the output's shape (stride 0 on
// broadcast dims), so one strided plan over the output serves every broadcasting pattern.

#include "cuda_backend.h"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

using backend::BinaryOp;

namespace {

// out[i] = f(a[i], b[i]); operands: 0 out, 1 a, 2 b. out may alias a (in-place add_).
template <class T, class F, class Indexer>
__global__ void binary_kernel(T* out, const T* a, const T* b, F f, Indexer ix, int64_t n) {
  ONESTEP_GRID_STRIDE_LOOP(i, n) {
    typename Indexer::index_type o[3];
    ix.offsets(static_cast<typename Indexer::index_type>(i), o);
    out[o[0]] = f(a[o[1]], b[o[2]]);
  }
}

// out[i] = cond[i] != 0 ? a[i] : b[i]; operands: 0 out, 1 cond, 2 a, 3 b.
template <class T, class C, class Indexer>
__global__ void where_kernel(T* out, const C* cond, const T* a, const T* b, Indexer ix, int64_t n) {
  ONESTEP_GRID_STRIDE_LOOP(i, n) {
    typename Indexer::index_type o[4];
    ix.offsets(static_cast<typename Indexer::index_type>(i), o);
    out[o[0]] = cond[o[1]] != C(0) ? a[o[2]] : b[o[3]];
  }
}

template <class T, class F>
void launch_binary(const CudaBackend& be, const Tensor& a, const Tensor& b, const Tensor& out,
                   F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const auto plan =
      make_plan<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()}, "binary op");
  with_indexer(plan, [&](auto ix) {
    ONESTEP_LAUNCH(blocks_for(n, be.sm_count()), kThreads, 0, be.stream(),
                   binary_kernel<T, F, decltype(ix)>)(typed<T>(out), typed<T>(a), typed<T>(b), f,
                                                      ix, n);
  });
}

struct Add {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return x + y;
  }
};
struct Sub {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return x - y;
  }
};
struct Mul {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return x * y;
  }
};
struct Div {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return x / y;
  }
};
// std::min and std::max as the CPU's scalar loop writes them: a NaN first operand wins, a NaN
// second operand loses.
struct Minimum {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return y < x ? y : x;
  }
};
struct Maximum {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return x < y ? y : x;
  }
};
struct Gt {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return T(x > y);
  }
};
struct Lt {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return T(x < y);
  }
};
struct Ge {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return T(x >= y);
  }
};
struct Le {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return T(x <= y);
  }
};
struct Eq {
  template <class T>
  __device__ T operator()(T x, T y) const {
    return T(x == y);
  }
};

template <class T>
void binary_typed(const CudaBackend& be, BinaryOp op, const Tensor& a, const Tensor& b,
                  const Tensor& out) {
  switch (op) {
    case BinaryOp::add:
      return launch_binary<T>(be, a, b, out, Add{});
    case BinaryOp::sub:
      return launch_binary<T>(be, a, b, out, Sub{});
    case BinaryOp::mul:
      return launch_binary<T>(be, a, b, out, Mul{});
    case BinaryOp::div:
      if constexpr (std::is_integral_v<T>) {
        ONESTEP_FAIL("div expects floating-point tensors (f32 or f64), got i64");
      } else {
        return launch_binary<T>(be, a, b, out, Div{});
      }
    case BinaryOp::minimum:
      return launch_binary<T>(be, a, b, out, Minimum{});
    case BinaryOp::maximum:
      return launch_binary<T>(be, a, b, out, Maximum{});
    case BinaryOp::gt:
      return launch_binary<T>(be, a, b, out, Gt{});
    case BinaryOp::lt:
      return launch_binary<T>(be, a, b, out, Lt{});
    case BinaryOp::ge:
      return launch_binary<T>(be, a, b, out, Ge{});
    case BinaryOp::le:
      return launch_binary<T>(be, a, b, out, Le{});
    case BinaryOp::eq:
      return launch_binary<T>(be, a, b, out, Eq{});
  }
  ONESTEP_FAIL("binary op {} is not implemented on cuda", static_cast<int>(op));
}

}  // namespace

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  activate();
  dispatch_dtype(out.dtype(), [&](auto tag) { binary_typed<decltype(tag)>(*this, op, a, b, out); });
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  activate();
  const auto plan = make_plan<4>(
      out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()}, "where");
  dispatch_dtypes(out.dtype(), cond.dtype(), [&](auto tag, auto cond_tag) {
    using T = decltype(tag);
    using C = decltype(cond_tag);
    with_indexer(plan, [&](auto ix) {
      ONESTEP_LAUNCH(blocks_for(n, sm_count_), kThreads, 0, stream_,
                     where_kernel<T, C, decltype(ix)>)(typed<T>(out), typed<C>(cond),
                                                       typed<T>(a), typed<T>(b), ix, n);
    });
  });
}

}  // namespace onestep::cuda_backend
