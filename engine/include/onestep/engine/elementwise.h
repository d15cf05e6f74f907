#pragma once
// Elementwise ops with NumPy broadcasting. Tensor-tensor ops need equal dtypes and devices.

#include "onestep/engine/tensor.h"

namespace onestep {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);

// x * scale + shift in one pass; the scalar forms of + - * / are built on it.
Tensor affine(const Tensor& x, double scale, double shift);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor square(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor sigmoid(const Tensor& x);
Tensor softplus(const Tensor& x);  // log(1 + e^x), stable for large |x|
Tensor tanh(const Tensor& x);
Tensor silu(const Tensor& x);
Tensor relu(const Tensor& x);
// cond != 0 picks a, else b. cond may have any dtype; it gets no gradient.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Comparisons give 0/1 in the dtype of a; they are not differentiable.
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor eq(const Tensor& a, double b);
Tensor isfinite(const Tensor& x);  // 1 where finite, 0 for NaN and ±inf
Tensor sign(const Tensor& x);      // -1, 0 or 1

inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
inline Tensor operator-(const Tensor& x) {
  return neg(x);
}
inline Tensor operator+(const Tensor& x, double s) {
  return affine(x, 1.0, s);
}
inline Tensor operator+(double s, const Tensor& x) {
  return affine(x, 1.0, s);
}
inline Tensor operator-(const Tensor& x, double s) {
  return affine(x, 1.0, -s);
}
inline Tensor operator-(double s, const Tensor& x) {
  return affine(x, -1.0, s);
}
inline Tensor operator*(const Tensor& x, double s) {
  return affine(x, s, 0.0);
}
inline Tensor operator*(double s, const Tensor& x) {
  return affine(x, s, 0.0);
}
inline Tensor operator/(const Tensor& x, double s) {
  return affine(x, 1.0 / s, 0.0);
}
inline Tensor operator/(double s, const Tensor& x) {
  return affine(reciprocal(x), s, 0.0);
}

}  // namespace onestep
