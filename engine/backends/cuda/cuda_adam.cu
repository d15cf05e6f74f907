// The multi-tensor Adam update: one launch updates up to kTensorsPerLaunch parameters, each
// block a chunk of one parameter, found from the table of first blocks that travels in the
// kernel's arguments (no host-to-device copy before the launch). The composite it replaces
// queues about 12 kernels per parameter, more than half of a training step's launches. Every
// element is computed as cpu_adam.cpp and the composite compute it, in the tensors' precision.

#include <cstdint>

#include "cuda_backend.h"
#include "device_math.cuh"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

namespace {

// 36 parameters keep the table under 3 KB, inside the 4 KB of kernel arguments every GPU and
// toolkit accepts.
constexpr int kTensorsPerLaunch = 36;
constexpr int kElementsPerThread = 4;
constexpr int64_t kChunk = int64_t{kThreads} * kElementsPerThread;

template <class T>
struct AdamTable {
  int count = 0;
  // Parameter j owns blocks [first_block[j], first_block[j + 1]).
  int64_t first_block[kTensorsPerLaunch + 1] = {};
  T* param[kTensorsPerLaunch] = {};
  const T* grad[kTensorsPerLaunch] = {};
  T* exp_avg[kTensorsPerLaunch] = {};
  T* exp_avg_sq[kTensorsPerLaunch] = {};
  int64_t numel[kTensorsPerLaunch] = {};
  T neg_step_size[kTensorsPerLaunch] = {};
  T denom_scale[kTensorsPerLaunch] = {};
};

static_assert(sizeof(AdamTable<double>) <= 3 * 1024, "the table must fit the kernel arguments");

template <class T>
struct AdamScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, decay_factor, eps;
  bool decoupled_decay, coupled_decay, momentum;
};

template <class T>
__global__ void adam_kernel(AdamTable<T> table, AdamScalars<T> k) {
  const int64_t block = blockIdx.x;
  int j = 0;
  while (block >= table.first_block[j + 1]) ++j;
  const int64_t begin = (block - table.first_block[j]) * kChunk;
  const int64_t end = begin + kChunk < table.numel[j] ? begin + kChunk : table.numel[j];
  T* p = table.param[j];
  const T* grad = table.grad[j];
  T* m = table.exp_avg[j];
  T* v = table.exp_avg_sq[j];
  const T scale = table.denom_scale[j], neg_step = table.neg_step_size[j];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    T g = grad[i];
    T pi = p[i];
    if (k.decoupled_decay) pi = pi * k.decay_factor;
    if (k.coupled_decay) g = pi * k.weight_decay + g;
    const T mi = k.momentum ? m[i] * k.beta1 + g * k.one_minus_beta1 : g;
    const T vi = v[i] * k.beta2 + (g * g) * k.one_minus_beta2;
    const T denom = dmath::sqrt(vi) * scale + k.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + (mi / denom) * neg_step;
  }
}

template <class T>
AdamScalars<T> scalars(const backend::AdamConstants& c) {
  const bool decays = c.weight_decay != 0.0;
  return {static_cast<T>(c.beta1),        static_cast<T>(1.0 - c.beta1),
          static_cast<T>(c.beta2),        static_cast<T>(1.0 - c.beta2),
          static_cast<T>(c.weight_decay), static_cast<T>(c.decay_factor),
          static_cast<T>(c.eps),          decays && c.decoupled,
          decays && !c.decoupled,         c.beta1 != 0.0};
}

}  // namespace

bool CudaBackend::adam_update(const std::vector<backend::AdamTensors>& parameters,
                              const backend::AdamConstants& constants) {
  activate();
  dispatch_floating(parameters.front().param.dtype(), "adam_update", [&](auto tag) {
    using T = decltype(tag);
    const AdamScalars<T> k = scalars<T>(constants);
    AdamTable<T> table;
    auto flush = [&] {
      if (table.count == 0) return;
      const int64_t blocks = table.first_block[table.count];
      ONESTEP_CHECK(blocks <= kInt32Limit, "adam_update: {} blocks exceed the grid", blocks);
      ONESTEP_LAUNCH(static_cast<unsigned>(blocks), kThreads, 0, stream(), adam_kernel<T>)(table,
                                                                                           k);
      table = AdamTable<T>();
    };
    for (const backend::AdamTensors& t : parameters) {
      const int64_t n = t.param.numel();
      if (n == 0) continue;
      const int j = table.count++;
      table.param[j] = typed<T>(t.param);
      table.grad[j] = typed<T>(t.grad);
      table.exp_avg[j] = typed<T>(t.exp_avg);
      table.exp_avg_sq[j] = typed<T>(t.exp_avg_sq);
      table.numel[j] = n;
      table.neg_step_size[j] = static_cast<T>(-t.step_size);
      table.denom_scale[j] = static_cast<T>(t.denom_scale);
      table.first_block[j + 1] = table.first_block[j] + (n + kChunk - 1) / kChunk;
      if (table.count == kTensorsPerLaunch) flush();
    }
    flush();
  });
  return true;
}

}  // namespace onestep::cuda_backend
