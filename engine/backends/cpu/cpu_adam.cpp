// The fused Adam update: one pass over each parameter's four tensors, every element computed in
// the tensors' precision with the same operations, in the same order, as the composite
// (reference::adam_update), which does a dozen passes and allocates four temporaries. The
// parameters are cut into chunks of equal size that the threads share, so that a model's many
// small tensors (biases, norms) cost one parallel region, not one each.

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_backend.h"
#include "parallel.h"

namespace onestep::cpu_backend {

namespace {

constexpr int64_t kChunk = 16384;

struct Chunk {
  size_t parameter;
  int64_t begin, end;
};

template <class T>
void update(const backend::AdamTensors& t, const backend::AdamConstants& k, int64_t begin,
            int64_t end) {
  T* p = typed<T>(t.param);
  const T* grad = typed<T>(t.grad);
  T* m = typed<T>(t.exp_avg);
  T* v = typed<T>(t.exp_avg_sq);
  const T beta1 = static_cast<T>(k.beta1), one_minus_beta1 = static_cast<T>(1.0 - k.beta1);
  const T beta2 = static_cast<T>(k.beta2), one_minus_beta2 = static_cast<T>(1.0 - k.beta2);
  const T weight_decay = static_cast<T>(k.weight_decay), decay = static_cast<T>(k.decay_factor);
  const T eps = static_cast<T>(k.eps), scale = static_cast<T>(t.denom_scale);
  const T neg_step = static_cast<T>(-t.step_size);
  const bool decays = k.weight_decay != 0.0, coupled = decays && !k.decoupled;
  const bool momentum = k.beta1 != 0.0;
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    T g = grad[i];
    T pi = p[i];
    if (decays && k.decoupled) pi = pi * decay;
    if (coupled) g = pi * weight_decay + g;
    const T mi = momentum ? m[i] * beta1 + g * one_minus_beta1 : g;
    const T vi = v[i] * beta2 + (g * g) * one_minus_beta2;
    const T denom = std::sqrt(vi) * scale + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + (mi / denom) * neg_step;
  }
}

}  // namespace

bool CpuBackend::adam_update(const std::vector<backend::AdamTensors>& parameters,
                             const backend::AdamConstants& constants) {
  std::vector<Chunk> chunks;
  for (size_t j = 0; j < parameters.size(); ++j) {
    const int64_t n = parameters[j].param.numel();
    for (int64_t begin = 0; begin < n; begin += kChunk)
      chunks.push_back({j, begin, std::min(n, begin + kChunk)});
  }
  dispatch_floating(parameters.front().param.dtype(), "adam_update", [&](auto tag) {
    using T = decltype(tag);
    parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c)
        update<T>(parameters[chunks[c].parameter], constants, chunks[c].begin, chunks[c].end);
    });
  });
  return true;
}

}  // namespace onestep::cpu_backend
