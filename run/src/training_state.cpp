#include "onestep/run/training_state.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::run {

uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Tensor i64_vector(const std::vector<int64_t>& values) {
  return from_vector<int64_t>(values, {static_cast<int64_t>(values.size())});
}

Tensor rng_state(const Rng& g) {
  return i64_vector({static_cast<int64_t>(g.seed()), static_cast<int64_t>(g.offset())});
}

void restore_rng(Rng& g, const Tensor& state, const std::string& name) {
  ONESTEP_CHECK(state.dtype() == DType::i64 && state.numel() == 2,
                "training state: '{}' must be an i64 pair, got {} {}", name,
                dtype_name(state.dtype()), shape_str(state.shape()));
  const auto v = state.to_vector<int64_t>();
  g.set_state(static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1]));
}

nn::NamedTensors with_prefix(const nn::NamedTensors& all, const std::string& prefix) {
  nn::NamedTensors out;
  for (const auto& [name, t] : all)
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

void append_with_prefix(nn::NamedTensors& out, const nn::NamedTensors& entries,
                        const std::string& prefix) {
  for (const auto& [name, t] : entries) out.emplace_back(prefix + name, t);
}

}  // namespace onestep::run
