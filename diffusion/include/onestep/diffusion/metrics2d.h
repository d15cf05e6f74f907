#pragma once
// Distances between 2-D point clouds.

#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

// Sliced Wasserstein-1 distance: the mean over `projections` random unit directions of the 1-D
// Wasserstein-1 distance between the projected samples (mean |sorted a - sorted b|).
// a, b: [N, D] with the same N.
double sliced_wasserstein(const Tensor& a, const Tensor& b, int64_t projections, Generator& gen);

}  // namespace onestep::diffusion
