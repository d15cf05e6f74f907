#pragma once
// Creating tensors: constants, ranges, and copies of host data.

#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep {

Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
            Device device = Device::cpu());
Tensor scalar_tensor(double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

// [start, end) in steps of `step`, like numpy.arange.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::f32,
              Device device = Device::cpu());

// Copies `count` elements of `dtype` from host memory.
Tensor from_host(const void* data, DType dtype, const Shape& shape, Device device = Device::cpu());

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                   Device device = Device::cpu()) {
  ONESTEP_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
                "from_vector: {} values do not fill shape {}", values.size(), shape_str(shape));
  return from_host(values.data(), dtype_of<T>::value, shape, device);
}

}  // namespace onestep
