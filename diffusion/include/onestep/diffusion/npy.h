#pragma once
// NumPy .npy files, format versions 1.0, 2.0 and 3.0
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html). The reader validates
// everything (for untrusted input): magic, version, header length, the header's Python dict
// literal, dtype, shape and data size.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "onestep/engine/shape.h"
#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

struct NpyArray {
  // Little-endian or byte-order-free dtypes: "<f2", "<f4", "<f8", "|i1", "|u1", "|b1", "<i2",
  // "<u2", "<i4", "<u4", "<i8", "<u8".
  std::string descr;
  bool fortran_order = false;
  Shape shape;
  std::vector<uint8_t> data;  // exactly numel * itemsize bytes
};

// Size in bytes of one element of `descr`; throws onestep::Error for an unsupported one.
size_t npy_itemsize(const std::string& descr);

NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& source_name);
NpyArray read_npy(const std::string& path);

// Writes `shape`'s numel elements of `descr` (one of the NpyArray dtypes) from `data`, C order.
void write_npy(const std::string& path, const std::string& descr, const Shape& shape,
               const void* data);
// t: f32, f64 or i64 on any device.
void write_npy(const std::string& path, const Tensor& t);

// <f4 -> f32, <f8 -> f64, <i8 -> i64, |u1 -> f32 with values 0..255; other dtypes and
// fortran_order arrays throw onestep::Error.
Tensor npy_to_tensor(const NpyArray& array);

}  // namespace onestep::diffusion
