#pragma once
// In-place operations on the .grad of a list of parameters. Parameters whose .grad() is undefined
// are skipped. None of these record autograd history.

#include <cstdint>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep::nn {

// Global L2 norm of all gradients, as if concatenated into one vector. When it exceeds
// max_norm (finite, > 0), every gradient is scaled by max_norm / (norm + 1e-6), like
// torch.nn.utils.clip_grad_norm_. Returns the norm before clipping.
//
// A non-finite norm (a NaN or infinite gradient element, or a sum of squares that overflows the
// gradients' dtype) leaves the gradients unchanged and is returned as is — scaling would turn
// every gradient into NaN or zero — so the caller can skip the step or call
// zero_nonfinite_grads(). With error_if_nonfinite, it throws onestep::Error instead.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm,
                      bool error_if_nonfinite = false);

// Clamps every gradient element into [-clip, clip] (clip finite, >= 0). NaN elements stay NaN.
void clip_grad_value(const std::vector<Tensor>& params, double clip);

// Replaces NaN and ±inf gradient elements by 0 and returns how many were replaced.
int64_t zero_nonfinite_grads(const std::vector<Tensor>& params);

}  // namespace onestep::nn
