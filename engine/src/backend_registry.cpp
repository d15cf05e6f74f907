// Run-time choice of backend by device; the CPU backend always exists.

#include <cmath>
#include <limits>

#include "../backends/cpu/cpu_backend.h"
#include "backend.h"
#include "onestep/engine/memory.h"
#include "ops/op_helpers.h"

namespace onestep {

namespace backend {

Backend& cpu() {
  // Never destroyed: tensors with static lifetime may release memory after main returns.
  static auto* instance = new cpu_backend::CpuBackend();
  return *instance;
}

Backend& get(Device device) {
  switch (device.type) {
    case DeviceType::cpu:
      return cpu();
    case DeviceType::cuda:
      return cuda(device.index);
  }
  ONESTEP_FAIL("unknown device type {}", static_cast<int>(device.type));
}

IntegerScalars integer_scalars(UnaryOp op, double p0, double p1) {
  constexpr double kTwoTo63 = 9223372036854775808.0;  // int64 holds [-2^63, 2^63)
  const auto fits = [&](double v) { return v >= -kTwoTo63 && v < kTwoTo63; };  // false for NaN
  if (op == UnaryOp::clamp) {
    // Saturated: an open bound (+-inf) or one beyond int64 clamps nothing on its side.
    const auto saturated = [&](double bound) {
      if (fits(bound)) return static_cast<int64_t>(bound);
      return bound > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    };
    return {saturated(std::ceil(p0)), saturated(std::floor(p1))};
  }
  if (op != UnaryOp::affine) return {0, 0};  // the others take no integer scalars
  // Checked before the cast: a non-finite or huge double has no int64 value.
  ONESTEP_CHECK(fits(p0) && fits(p1) && std::trunc(p0) == p0 && std::trunc(p1) == p1,
                "affine on i64 needs integer scale and shift, got {} and {}", p0, p1);
  return {static_cast<int64_t>(p0), static_cast<int64_t>(p1)};
}

}  // namespace backend

namespace detail {

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (first == nullptr) {
      first = t;
    } else {
      ONESTEP_CHECK(t->device() == first->device(),
                    "{}: tensors on different devices ({} {} vs {} {}); move them with .to()", op,
                    first->device().str(), shape_str(first->shape()), t->device().str(),
                    shape_str(t->shape()));
    }
  }
  ONESTEP_CHECK(first != nullptr, "{}: no defined input tensor", op);
  return first->device();
}

}  // namespace detail

MemoryStats memory_stats(Device device) {
  return backend::get(device).memory_stats();
}
void reset_peak_memory(Device device) {
  backend::get(device).reset_peak_memory();
}
void empty_cache(Device device) {
  backend::get(device).empty_cache();
}

}  // namespace onestep
