#pragma once
// Distances between sets of feature vectors (rows of [N, D] tensors): Frechet distance (FID),
// kernel inception distance (KID) and k-NN precision/recall. Everything is computed in float64.

#include <vector>

#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

// Mean [D] and covariance [D, D] (unbiased, N - 1) of features [N, D], in f64.
struct GaussianStats {
  Tensor mean;
  Tensor covariance;
};
GaussianStats gaussian_stats(const Tensor& features);

// |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), with matrix square roots from symmetric
// eigendecompositions (negative eigenvalues from rounding clipped to 0), as clean-fid does.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

// KID (Binkowski et al. 2018): the unbiased MMD^2 with the kernel (x.y / D + 1)^3, averaged over
// `subsets` random subsets of `subset_size` rows of each set (both sets need that many rows).
struct KernelDistance {
  double mean = 0;
  double standard_error = 0;
};
KernelDistance kernel_distance(const Tensor& a, const Tensor& b, int64_t subsets,
                               int64_t subset_size, Rng& gen);

// Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union of
// balls reaching every point's k-th nearest neighbour in that set; precision is the fraction of
// generated points inside the real manifold, recall the fraction of real points inside the
// generated one.
struct PrecisionRecall {
  double precision = 0;
  double recall = 0;
};
PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int64_t k = 3);

}  // namespace onestep::diffusion
