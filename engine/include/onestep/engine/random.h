#pragma once
// Counter-based random numbers (Philox 4x32-10): the same seed gives the same numbers on every
// device and thread count, and an Rng's state is two integers, so runs resume exactly.

#include <cstdint>

#include "onestep/engine/tensor.h"

namespace onestep {

class Rng {
 public:
  explicit Rng(uint64_t seed) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  // Number of 128-bit Philox counters consumed so far.
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Claims `counters` consecutive counters and returns the first.
  uint64_t advance(uint64_t counters) {
    const uint64_t first = offset_;
    offset_ += counters;
    return first;
  }

  // Data-parallel sharding. With `count` > 1, a draw of shape [n, ...] returns rows
  // [index*n, (index+1)*n) of the draw of shape [count*n, ...] an unsharded Rng in this state
  // would return, and advances as that draw does. So `count` processes that each draw their n
  // rows draw, together, exactly what one process drawing count*n rows draws, and their states
  // stay equal (a checkpoint of one is a checkpoint of all). 0-d draws are not split. The shard
  // is a setting of this process, not part of the state.
  void set_shard(int64_t index, int64_t count);
  int64_t shard_index() const { return shard_index_; }
  int64_t shard_count() const { return shard_count_; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  int64_t shard_index_ = 0, shard_count_ = 1;
};

// Uniform on [0, 1).
Tensor rand(const Shape& shape, Rng& gen, DType dtype = DType::f32,
            Device device = Device::cpu());
// Standard normal.
Tensor randn(const Shape& shape, Rng& gen, DType dtype = DType::f32,
             Device device = Device::cpu());
// Integers uniform in [low, high), dtype i64.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Rng& gen,
               Device device = Device::cpu());
Tensor rand_like(const Tensor& t, Rng& gen);
Tensor randn_like(const Tensor& t, Rng& gen);

}  // namespace onestep
