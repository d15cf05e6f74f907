// Errors, dtypes, devices and shapes.

#include <algorithm>

#include "onestep/engine/cuda.h"
#include "onestep/engine/device.h"
#include "onestep/engine/dtype.h"
#include "onestep/engine/error.h"
#include "onestep/engine/shape.h"

namespace onestep {

namespace detail {
void throw_error(const std::string& message) {
  throw Error(message);
}
}  // namespace detail

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return 4;
    case DType::f64:
    case DType::i64:
      return 8;
  }
  ONESTEP_FAIL("unknown dtype {}", static_cast<int>(dtype));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::i64:
      return "i64";
  }
  return "unknown";
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : fmt::format("cuda:{}", index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
      std::all_of(text.begin() + 5, text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      text.size() < 10) {
    return Device::cuda(std::stoi(text.substr(5)));
  }
  ONESTEP_FAIL("unknown device '{}': expected cpu, cuda or cuda:N", text);
}

namespace {
// `name`: the device as the caller wrote it ("cuda" rather than "cuda:0").
Device checked_usable(Device device, const std::string& name) {
  if (device.is_cuda()) {
    ONESTEP_CHECK(cuda::compiled(),
                  "device {}: this build has no CUDA (configure with -DONESTEP_CUDA=ON); use "
                  "device cpu",
                  name);
    ONESTEP_CHECK(cuda::available(), "device {}: no usable CUDA device here ({}); use device cpu",
                  name, cuda::unavailable_reason());
  }
  return device;
}
}  // namespace

Device usable_device(Device device) {
  return checked_usable(device, device.str());
}

Device usable_device(const std::string& text) {
  return checked_usable(parse_device(text), text);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

size_t checked_nbytes(const Shape& shape, size_t element_size, const char* op) {
  // Every stride (a product of sizes) must fit as well, so sizes of 0 count as 1 here.
  int64_t span = 1;
  for (int64_t s : shape) {
    ONESTEP_CHECK(s >= 0, "{}: negative size in shape {}", op, shape_str(shape));
    ONESTEP_CHECK(!__builtin_mul_overflow(span, std::max<int64_t>(s, 1), &span),
                  "{}: shape {} is too large", op, shape_str(shape));
  }
  int64_t bytes = 0;
  ONESTEP_CHECK(
      !__builtin_mul_overflow(shape_numel(shape), static_cast<int64_t>(element_size), &bytes),
      "{}: shape {} is too large", op, shape_str(shape));
  return static_cast<size_t>(bytes);
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

std::string shape_str(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ONESTEP_CHECK(da == db || da == 1 || db == 1,
                  "{}: shapes {} and {} do not broadcast (dim {} is {} vs {})", op, shape_str(a),
                  shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  ONESTEP_CHECK(dim >= lo && dim <= hi, "{}: dim {} out of range for a tensor of {} dims", op, dim,
                ndim);
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim,
                                    const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  ONESTEP_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(),
                "{}: dim listed twice in [{}]", op, fmt::join(dims, ", "));
  return out;
}

}  // namespace onestep
