#pragma once
// The workloads of `onestep bench`, built from the library's own training pieces, in the
// same shape as bench/torch_reference.py (docs/PERFORMANCE.md):
//   teacher   the library's teacher step (diffusion::TeacherTraining): EDM loss, forward +
//             backward, non-finite check, Adam, EMA
//   distill   one Uni-Instruct iteration as in distill/src/distill.cpp: fake-score and
//             discriminator update, then the generator update through the frozen teacher and
//             fake networks
//   generate  one-step generation D(2.5 z; 2.5) without gradients
//   adam      the teacher's Adam step alone, on fixed gradients (the batch plays no part)

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "onestep/diffusion/model_config.h"
#include "onestep/engine/device.h"

namespace onestep::app {

// "fmnist", "fmnist-cpu", "cifar10": the teacher preset's SongUNet at 32x32 (1 channel for
// Fashion-MNIST, padded to 32 as the dataset loader does; 3 for CIFAR-10).
const std::vector<std::string>& bench_config_names();
diffusion::ModelConfig bench_model_config(const std::string& config);

const std::vector<std::string>& bench_workload_names();

struct BenchWorkload {
  std::function<void()> step;  // one step; queues device work (does not wait for it)
  int64_t parameters = 0;      // of one network
};

// Builds the networks and inputs of `workload` (weights from `seed`) on `device`.
BenchWorkload make_bench_workload(const std::string& workload, const std::string& config,
                                  int64_t batch, Device device, uint64_t seed);

}  // namespace onestep::app
