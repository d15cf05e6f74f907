#pragma once
// The Adam settings every fused-Adam comparison runs (the CPU kernel against the composite, the
// CUDA kernel against the CPU): Adam, L2 weight decay, AdamW, and AdamW with beta1 = 0 and
// beta2 = 0.99 (the SiD/DMD recipes').

#include <utility>
#include <vector>

#include "onestep/engine/adam.h"

namespace onestep::testing {

inline std::vector<std::pair<const char*, AdamHyperparameters>> adam_settings() {
  // lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay
  return {{"adam", {2e-3}},
          {"l2", {2e-3, 0.9, 0.999, 1e-8, 0.05}},
          {"adamw", {2e-3, 0.9, 0.999, 1e-8, 0.05, true}},
          {"beta1 0", {2e-3, 0.0, 0.99, 1e-8, 0.05, true}}};
}

}  // namespace onestep::testing
