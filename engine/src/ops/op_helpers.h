#pragma once
// Checks and helpers shared by the op implementations.

#include <initializer_list>

#include "../backend.h"
#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"
#include "onestep/engine/tensor.h"

namespace onestep::detail {

inline backend::Backend& backend_of(const Tensor& t) {
  return backend::get(t.device());
}

inline void check_defined(const char* op, const Tensor& t, const char* what) {
  ONESTEP_CHECK(t.defined(), "{}: {} is an undefined tensor", op, what);
}

// All defined tensors on one device; returns it.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);

inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  ONESTEP_CHECK(a.dtype() == b.dtype(), "{}: dtypes differ ({} {} vs {} {}); convert with .to()",
                op, dtype_name(a.dtype()), shape_str(a.shape()), dtype_name(b.dtype()),
                shape_str(b.shape()));
}

inline void check_floating(const char* op, const Tensor& t) {
  ONESTEP_CHECK(is_floating(t.dtype()),
                "{}: expected a floating-point tensor (f32 or f64), got {} {}", op,
                dtype_name(t.dtype()), shape_str(t.shape()));
}

inline void check_dim(const char* op, const Tensor& t, int64_t ndim, const char* what) {
  ONESTEP_CHECK(t.dim() == ndim, "{}: {} must have {} dims, got shape {}", op, what, ndim,
                shape_str(t.shape()));
}

using autograd::SavedTensor;

}  // namespace onestep::detail
