#pragma once
// The one table of op cases (docs/ENGINE.md): every differentiable op with the inputs it is
// checked on. The CPU checks each row's backward against finite differences in f64, with
// non-contiguous inputs, and its f32 forward against the f64 one
// (tests/engine/test_gradcheck_table.cpp); the CUDA backend runs each row forward and backward
// in f64 and f32 against the CPU (tests/engine/cuda/test_cuda_ops.cpp), large rows included.

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "onestep/engine.h"
#include "testing/gradcheck.h"

namespace onestep::testing {

using Inputs = std::vector<Tensor>;

struct OpCase {
  std::string op;       // name in differentiable_ops()
  std::string variant;  // what this row exercises
  // On the CPU in f64; the inputs to differentiate require grad. A row's function moves any
  // tensor it builds (an index) to its input's device.
  std::function<Inputs(Rng&)> make_inputs;
  OpFunction f;
  GradcheckOptions options = {};
  bool f32_comparable = true;  // whether an f32 forward can be compared with the f64 one
  // Compare a device's f32 run with the CPU's f32 run rather than its f64 one (dropout: f32 and
  // f64 masks come from different Philox lanes).
  bool same_precision_reference = false;
  // Sized for the device kernels' multi-block paths: too big for finite differences, so only
  // the device comparison runs it.
  bool large = false;
  // Moves between the CPU and a CUDA device: without one (cuda::available()), the CPU checks
  // skip it, counted as skipped.
  bool needs_second_device = false;

  // The row's inputs as every table draws them (seed 42).
  Inputs fixed_inputs() const;
  // f(inputs) without recording a backward.
  Tensor forward_without_grad(const Inputs& inputs) const;
};

std::vector<OpCase> op_cases();

// "op (variant)", for gtest's parameter printing.
void PrintTo(const OpCase& c, std::ostream* os);

// "<op>_<index>" with every non-alphanumeric character replaced: a gtest parameter name.
std::string op_case_name(const OpCase& c, size_t index);

}  // namespace onestep::testing
