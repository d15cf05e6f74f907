#pragma once
// Joining, splitting and gathering. The single-tensor views are methods of Tensor.

#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep {

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
// Pieces of the given sizes along dim (views).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
// Pieces of `size` along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim);
// index: 1-D i64 with values in [0, x.size(dim)).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

inline Tensor reshape(const Tensor& x, const Shape& s) {
  return x.reshape(s);
}
inline Tensor permute(const Tensor& x, const std::vector<int64_t>& o) {
  return x.permute(o);
}
inline Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  return x.transpose(d0, d1);
}
inline Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1) {
  return x.slice(dim, start, end, step);
}
inline Tensor expand(const Tensor& x, const Shape& s) {
  return x.expand(s);
}

}  // namespace onestep
