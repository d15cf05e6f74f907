#pragma once
// Distances between 2-D point clouds, and the scores `onestep sample` and `onestep eval` report
// for 2-D samples.

#include <string>

#include "onestep/diffusion/datasets.h"
#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

// Sliced Wasserstein-1 distance: the mean over `projections` random unit directions of the 1-D
// Wasserstein-1 distance between the projected samples (mean |sorted a - sorted b|).
// a, b: [N, D] with the same N.
double sliced_wasserstein(const Tensor& a, const Tensor& b, int64_t projections, Rng& gen);

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

// The scores of 2-D samples against their dataset: sliced Wasserstein distance and MMD^2 to a
// data sample of the same size, each beside its data-vs-data floor (a second data sample
// against the first), and for the Gaussian mixtures the mode statistics of the samples and of
// the second data sample. The data samples come from Rng(seed), the projections from
// Rng(seed + 1): the same seed scores every set of samples against the same data.
struct PointScores {
  int64_t n = 0;
  int64_t projections = 0;
  double sliced_wasserstein = 0, sliced_wasserstein_floor = 0;
  double mmd = 0, mmd_floor = 0;
  bool mixture = false;  // the data is a Gaussian mixture: modes and data_modes are set
  ModeStats modes, data_modes;
  Tensor reference;  // the first data sample, [n, 2]

  // The scores as JSON members, without braces: "\"n\": 4000, \"sliced_wasserstein\": ...".
  std::string json_members() const;
  // Lines for a terminal: the distances with their floors, and the mode statistics.
  std::string summary(const std::string& data_name) const;
};

// samples: [N, 2] with N >= 2. Throws onestep::Error on other shapes.
PointScores score_points(const Tensor& samples, const DataSource& data,
                         const std::string& data_spec, int64_t projections, uint64_t seed);

}  // namespace onestep::diffusion
