#pragma once
// Precision-explicit device math: float arguments call the f-suffixed CUDA functions and double
// arguments the double ones, so a float kernel never silently computes in double (or the
// reverse) through an implicit conversion. No fast-math intrinsics: the results must match the
// CPU within a few ulp.

#include <cstdint>

namespace onestep::cuda_backend::dmath {

#define ONESTEP_DMATH_UNARY(name, fname)             \
  __device__ __forceinline__ float name(float x) {   \
    return ::fname##f(x);                            \
  }                                                  \
  __device__ __forceinline__ double name(double x) { \
    return ::fname(x);                               \
  }

ONESTEP_DMATH_UNARY(exp, exp)
ONESTEP_DMATH_UNARY(log, log)
ONESTEP_DMATH_UNARY(log1p, log1p)
ONESTEP_DMATH_UNARY(sin, sin)
ONESTEP_DMATH_UNARY(cos, cos)
ONESTEP_DMATH_UNARY(sqrt, sqrt)
ONESTEP_DMATH_UNARY(tanh, tanh)
ONESTEP_DMATH_UNARY(fabs, fabs)

#undef ONESTEP_DMATH_UNARY

__device__ __forceinline__ float pow(float x, float y) {
  return ::powf(x, y);
}
__device__ __forceinline__ double pow(double x, double y) {
  return ::pow(x, y);
}
__device__ __forceinline__ bool isfinite(float x) {
  return ::isfinite(x);
}
__device__ __forceinline__ bool isfinite(double x) {
  return ::isfinite(x);
}

}  // namespace onestep::cuda_backend::dmath
