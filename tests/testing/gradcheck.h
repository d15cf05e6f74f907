#pragma once
// Finite-difference gradient checks in float64 (docs/ENGINE.md): central differences, eps 1e-6,
// atol 1e-5, rtol 1e-3, a random non-uniform cotangent; the full Jacobian for small inputs and
// random directions for big ones; every input separately; and accumulation over two backward
// calls.

#include <functional>
#include <string>
#include <vector>

#include "onestep/engine.h"

namespace onestep::testing {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int64_t full_jacobian_max = 48;  // inputs up to this many elements are checked element by element
  int directions = 6;              // random directions for bigger inputs
  uint64_t seed = 20251126;
};

using OpFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks the gradient of f with respect to every input that requires grad. Inputs must be f64.
// Returns an empty string on success, else a description of the first failure.
std::string gradcheck(const OpFunction& f, const std::vector<Tensor>& inputs,
                      const GradcheckOptions& options = {});

// Overwrites every tensor in place with N(0, 0.3^2) draws from `seed`: a network's parameters
// made non-trivial, since near-zero output layers (EDM's, the discriminator head's) would hide
// most of it from a gradient check.
void randomise(const std::vector<Tensor>& tensors, uint64_t seed);

// The same values in a non-contiguous layout: every stride doubled (a strided slice of a
// larger buffer) or the dims stored in reverse order (a permuted copy).
enum class Layout { contiguous, strided, permuted };
Tensor with_layout(const Tensor& t, Layout layout);

// Largest |a - b| over all elements (shapes must match).
double max_abs_diff(const Tensor& a, const Tensor& b);

// Reads/writes element `index` (row-major logical order) of a CPU f64 tensor of any strides.
double get_element(const Tensor& t, int64_t index);
void set_element(const Tensor& t, int64_t index, double value);

// A float64 copy (on the CPU) of x with every element rounded to bfloat16 (8 significant bits,
// ties to even): the operands MatmulPrecision::bf16 multiplies, rounded independently of the
// engine's own rounding (frexp and nearbyint).
Tensor rounded_to_bf16(const Tensor& x);

}  // namespace onestep::testing
