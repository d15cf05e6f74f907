#pragma once
// Non-finite training steps: what the teacher and distillation loops share to skip them, to stop
// after too many in a row, and to inject them on purpose (debug flags --inject-nan-at and
// --inject-nan-grad-at), so that the skip path is tested end to end like the real thing.

#include <cstdint>
#include <string>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep::run {

// Steps numbered from 1, as "step" (teacher) or "iteration" (distill) in metrics.jsonl. Not a
// training setting: kept out of config.json and free to change on --resume.
struct NanInjection {
  std::vector<int64_t> loss_steps;  // the loss of these steps reads as NaN
  std::vector<int64_t> grad_steps;  // these steps' gradients turn NaN after backward

  bool loss_at(int64_t step) const;
  bool grad_at(int64_t step) const;
  // Throws onestep::Error (prefixed with `who`) on a step number below 1.
  void validate(const char* who) const;
};

// Sets every gradient element of the first parameter that has a gradient to NaN.
void poison_gradient(const std::vector<Tensor>& params);

// True when every element of every defined tensor is finite.
bool all_finite(const std::vector<Tensor>& tensors);

// "steps 3-5 (3 in a row)" for the `count` steps that end at `last`.
std::string describe_skipped_run(const char* unit, int64_t last, int64_t count);

}  // namespace onestep::run
