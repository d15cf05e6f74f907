#pragma once
// Pieces of resumable training state shared by the teacher and distillation loops.

#include <string>
#include <vector>

#include "onestep/engine/random.h"
#include "onestep/nn/named_tensors.h"

namespace onestep::run {

// Independent random streams from one seed (splitmix64 of the seed and a stream number).
uint64_t stream_seed(uint64_t seed, uint64_t stream);

Tensor i64_vector(const std::vector<int64_t>& values);
// An Rng's (seed, offset) as an i64 [2] tensor, and back (checked).
Tensor rng_state(const Rng& rng);
void restore_rng(Rng& rng, const Tensor& state, const std::string& name);

// The entries named "<prefix>rest", renamed "rest".
nn::NamedTensors with_prefix(const nn::NamedTensors& all, const std::string& prefix);
// Appends `entries` to `out` with "<prefix>" before each name.
void append_with_prefix(nn::NamedTensors& out, const nn::NamedTensors& entries,
                        const std::string& prefix);

}  // namespace onestep::run
