// Creation of tensors and random tensors.

#include "onestep/engine/creation.h"

#include <cmath>
#include <limits>

#include "onestep/engine/random.h"
#include "ops/op_helpers.h"
#include "philox.h"

namespace onestep {

Tensor empty(const Shape& shape, DType dtype, Device device) {
  const size_t bytes = checked_nbytes(shape, dtype_size(dtype), "empty");
  auto storage = std::make_shared<detail::Storage>(bytes, device);
  return Tensor::from_storage(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  detail::backend_of(t).fill(t, value);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor scalar_tensor(double value, DType dtype, Device device) {
  return full({}, value, dtype, device);
}
Tensor empty_like(const Tensor& t) {
  return empty(t.shape(), t.dtype(), t.device());
}
Tensor zeros_like(const Tensor& t) {
  return zeros(t.shape(), t.dtype(), t.device());
}
Tensor ones_like(const Tensor& t) {
  return ones(t.shape(), t.dtype(), t.device());
}
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, t.dtype(), t.device());
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  ONESTEP_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
                "arange: need finite start, end and a nonzero step, got {}, {}, {}", start, end,
                step);
  const double count = std::ceil((end - start) / step);
  Tensor t = empty({std::max<int64_t>(0, static_cast<int64_t>(count))}, dtype, device);
  detail::backend_of(t).arange(t, start, step);
  return t;
}

Tensor from_host(const void* data, DType dtype, const Shape& shape, Device device) {
  Tensor t = empty(shape, dtype, device);
  detail::backend_of(t).copy_from_host(t.raw_data(), data,
                                       static_cast<size_t>(t.numel()) * dtype_size(dtype));
  return t;
}

namespace {

Tensor random_fill(backend::RandomKind kind, const Shape& shape, Rng& gen, DType dtype,
                   Device device, double p0, double p1) {
  const int lanes = dtype == DType::f32 ? 4 : 2;
  if (gen.shard_count() == 1 || shape.empty()) {
    Tensor t = empty(shape, dtype, device);
    const uint64_t counter = gen.advance(philox::counters_needed(lanes, t.numel()));
    detail::backend_of(t).random(kind, t, gen.seed(), counter, p0, p1);
    return t;
  }
  // Element i of the whole draw comes from counter base + i / lanes, word i % lanes (philox.h):
  // this shard's elements are a fill that starts at the counter of its first element, less the
  // `lead` elements of that counter which belong to the shard before.
  const int64_t local = shape_numel(shape);
  ONESTEP_CHECK(local <= std::numeric_limits<int64_t>::max() / gen.shard_count(),
                "random: a draw of {} elements on each of {} shards overflows", local,
                gen.shard_count());
  const uint64_t base = gen.advance(philox::counters_needed(lanes, local * gen.shard_count()));
  const int64_t first = local * gen.shard_index();
  const int64_t lead = first % lanes;
  Tensor t = empty({lead + local}, dtype, device);
  detail::backend_of(t).random(kind, t, gen.seed(), base + static_cast<uint64_t>(first / lanes), p0,
                               p1);
  if (lead == 0) return t.reshape(shape);
  return t.slice(0, lead, lead + local).contiguous().reshape(shape);
}

}  // namespace

void Rng::set_shard(int64_t index, int64_t count) {
  ONESTEP_CHECK(count >= 1 && index >= 0 && index < count,
                "Rng::set_shard: shard {} of {} does not exist", index, count);
  shard_index_ = index;
  shard_count_ = count;
}

Tensor rand(const Shape& shape, Rng& gen, DType dtype, Device device) {
  ONESTEP_CHECK(is_floating(dtype), "rand: dtype must be f32 or f64, got {}", dtype_name(dtype));
  return random_fill(backend::RandomKind::uniform, shape, gen, dtype, device, 0, 0);
}

Tensor randn(const Shape& shape, Rng& gen, DType dtype, Device device) {
  ONESTEP_CHECK(is_floating(dtype), "randn: dtype must be f32 or f64, got {}", dtype_name(dtype));
  return random_fill(backend::RandomKind::normal, shape, gen, dtype, device, 0, 0);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Rng& gen, Device device) {
  ONESTEP_CHECK(low < high, "randint: empty range [{}, {})", low, high);
  // Bounds travel to the backend as doubles: keep them exact.
  ONESTEP_CHECK(std::abs(low) <= (int64_t{1} << 52) && std::abs(high) <= (int64_t{1} << 52),
                "randint: bounds [{}, {}) beyond +-2^52", low, high);
  return random_fill(backend::RandomKind::randint, shape, gen, DType::i64, device,
                     static_cast<double>(low), static_cast<double>(high));
}

Tensor rand_like(const Tensor& t, Rng& gen) {
  return rand(t.shape(), gen, t.dtype(), t.device());
}
Tensor randn_like(const Tensor& t, Rng& gen) {
  return randn(t.shape(), gen, t.dtype(), t.device());
}

}  // namespace onestep
