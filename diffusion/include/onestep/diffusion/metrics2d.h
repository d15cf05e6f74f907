#pragma once
// Distances between 2-D point clouds.

#include <string>

#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

// Sliced Wasserstein-1 distance: the mean over `projections` random unit directions of the 1-D
// Wasserstein-1 distance between the projected samples (mean |sorted a - sorted b|).
// a, b: [N, D] with the same N.
double sliced_wasserstein(const Tensor& a, const Tensor& b, int64_t projections, Generator& gen);

// Unbiased MMD^2 with the RBF kernel exp(-|x - y|^2 / (2 h^2)), h the median distance between
// points of the pooled sample (the median heuristic, on at most 1000 points of each). a, b:
// [N, D] and [M, D].
double mmd_rbf(const Tensor& a, const Tensor& b);

// Mode statistics of samples from a Gaussian mixture with equal isotropic components
// (VEEGAN's protocol, Srivastava et al. 2017): a sample is high-quality when it lies within
// 3 standard deviations of a component mean; a mode is covered when it has at least 10
// high-quality samples per 2500 samples.
struct ModeStats {
  int64_t modes = 0;
  int64_t modes_covered = 0;
  double high_quality_fraction = 0;
};
ModeStats mixture_mode_stats(const Tensor& samples, const Tensor& means, double stddev);

// The component means of a mixture toy ("toy:8gaussians", "toy:25gaussians", with or without
// the "toy:" prefix) as f32 [K, 2], and their std; undefined for other datasets.
Tensor toy_mixture_means(const std::string& name, double* stddev);

}  // namespace onestep::diffusion
