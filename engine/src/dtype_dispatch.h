#pragma once
// Turning a runtime dtype into a C++ type, for the backends' templated kernels.

#include <cstdint>

#include "onestep/engine/error.h"
#include "onestep/engine/tensor.h"

namespace onestep::backend {

// Calls f(T{}) with T the C++ type of `dtype`.
template <class F>
decltype(auto) dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    case DType::i64:
      return f(int64_t{});
  }
  ONESTEP_FAIL("unknown dtype {}", static_cast<int>(dtype));
}

// Calls f(A{}, B{}) with A and B the C++ types of `a` and `b` (a copy's destination and source,
// a select's values and condition).
template <class F>
void dispatch_dtypes(DType a, DType b, F&& f) {
  dispatch_dtype(a, [&](auto a_tag) { dispatch_dtype(b, [&](auto b_tag) { f(a_tag, b_tag); }); });
}

template <class F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    default:
      ONESTEP_FAIL("{}: expected a floating-point tensor (f32 or f64), got {}", op,
                   dtype_name(dtype));
  }
}

template <class T>
T* typed(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

}  // namespace onestep::backend
