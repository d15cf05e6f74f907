#pragma once
// Element types. f32 everywhere, f64 for gradient checks, i64 for labels and indices.

#include <cstddef>
#include <cstdint>
#include <string>

namespace onestep {

enum class DType : uint8_t { f32, f64, i64 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
inline bool is_floating(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64;
}

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::i64;
};

}  // namespace onestep
