#pragma once
// Normalisation, softmax, dropout and losses.

#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep {

// x: [N, C, ...]; weight, bias: [C] or undefined. Statistics per sample over C/groups channels.
// A fused kernel forward and backward where the backend has one (CPU).
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// silu(group_norm(x, ...)) in one kernel each way (EDM's UNet blocks normalise, then activate).
Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                       const Tensor& bias = Tensor(), double eps = 1e-5);

namespace reference {
// group_norm as a composite of recorded elementwise ops and reductions: the oracle of the fused
// kernels, and the path on backends without them.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
}  // namespace reference
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
// the identity otherwise.
Tensor dropout(const Tensor& x, double p, bool training, Rng& gen);

// Mean of (a - b)^2 over every element.
Tensor mse_loss(const Tensor& a, const Tensor& b);
// Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed stably.
Tensor bce_with_logits(const Tensor& logits, const Tensor& targets);

}  // namespace onestep
