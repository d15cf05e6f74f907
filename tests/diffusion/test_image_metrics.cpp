// FID, KID and precision/recall on features with known answers.

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "onestep/diffusion/image_metrics.h"
#include "onestep/engine.h"

namespace onestep::diffusion {
namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Tensor tensor_of(const Matrix& m) {
  return from_host(m.data(), DType::f64, {m.rows(), m.cols()});
}

// Two Gaussians whose covariances share eigenvectors Q: S = Q diag(d) Q^T. Then
// FID = |m1 - m2|^2 + sum_i (sqrt d1_i - sqrt d2_i)^2 exactly.
TEST(Fid, MatchesTheClosedFormForGaussians) {
  const int d = 64;
  Rng gen(1);
  const auto q_values = randn({d, d}, gen, DType::f64).to_vector<double>();
  const Matrix q =
      Eigen::HouseholderQR<Matrix>(Eigen::Map<const Matrix>(q_values.data(), d, d)).householderQ();
  const auto u = rand({2, d}, gen, DType::f64).to_vector<double>();
  Eigen::VectorXd d1(d), d2(d);
  for (int i = 0; i < d; ++i) {
    d1(i) = 0.1 + 3.0 * u[i];
    d2(i) = 0.1 + 3.0 * u[d + i];
  }
  const Matrix s1 = q * d1.asDiagonal() * q.transpose(), s2 = q * d2.asDiagonal() * q.transpose();
  const Tensor m1 = randn({d}, gen, DType::f64), m2 = randn({d}, gen, DType::f64);
  double expected = sum(square(m1 - m2)).item();
  for (int i = 0; i < d; ++i) expected += std::pow(std::sqrt(d1(i)) - std::sqrt(d2(i)), 2);
  const double fid = frechet_distance({m1, tensor_of(s1)}, {m2, tensor_of(s2)});
  EXPECT_NEAR(fid, expected, 1e-6 * expected);
  // A distribution against itself.
  EXPECT_NEAR(frechet_distance({m1, tensor_of(s1)}, {m1, tensor_of(s1)}), 0.0, 1e-9);
}

TEST(Fid, NonCommutingCovariancesMatchTheDirectFormula) {
  // 2x2 with tr sqrt(S1^1/2 S2 S1^1/2) computed independently: for a 2x2 PSD matrix M,
  // tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
  Matrix s1(2, 2), s2(2, 2);
  s1 << 2.0, 0.6, 0.6, 1.0;
  s2 << 0.5, -0.2, -0.2, 1.5;
  const double det = s1.determinant() * s2.determinant();
  const double trace_product = (s1 * s2).trace();  // tr(S1^1/2 S2 S1^1/2) = tr(S1 S2)
  const double cross = std::sqrt(trace_product + 2 * std::sqrt(det));
  const double expected = s1.trace() + s2.trace() - 2 * cross;
  const Tensor zero = zeros({2}, DType::f64);
  EXPECT_NEAR(frechet_distance({zero, tensor_of(s1)}, {zero, tensor_of(s2)}), expected, 1e-12);
}

TEST(Fid, SampleStatisticsConvergeToTheTruth) {
  Rng gen(2);
  const Tensor a = randn({20000, 4}, gen, DType::f64) * 2.0 + 1.0;  // N(1, 4 I)
  const Tensor b = randn({20000, 4}, gen, DType::f64);              // N(0, I)
  const double expected = 4 * 1.0 + 4 * std::pow(2.0 - 1.0, 2);
  EXPECT_NEAR(frechet_distance(gaussian_stats(a), gaussian_stats(b)), expected, 0.15);
  const GaussianStats s = gaussian_stats(a);
  EXPECT_NEAR(s.covariance.to_vector<double>()[0], 4.0, 0.15);
  EXPECT_THROW(gaussian_stats(zeros({1, 3})), Error);
  EXPECT_THROW(frechet_distance(gaussian_stats(a), gaussian_stats(randn({10, 3}, gen))), Error);
}

TEST(Kid, IsZeroInExpectationForOneDistributionAndPositiveForTwo) {
  Rng gen(3);
  const Tensor a = randn({2000, 8}, gen, DType::f64), b = randn({2000, 8}, gen, DType::f64);
  const KernelDistance same = kernel_distance(a, b, 20, 500, gen);
  EXPECT_LT(std::abs(same.mean), 4 * same.standard_error + 1e-4);
  const KernelDistance shifted = kernel_distance(a, b + 0.5, 20, 500, gen);
  EXPECT_GT(shifted.mean, 10 * shifted.standard_error);
  EXPECT_THROW(kernel_distance(a, b, 1, 500, gen), Error);
}

TEST(PrecisionRecall, SeparatesQualityFromCoverage) {
  Rng gen(4);
  const Tensor real = randn({1500, 2}, gen, DType::f64);
  const Tensor same = randn({1500, 2}, gen, DType::f64);
  const PrecisionRecall good = precision_recall(real, same);
  EXPECT_GT(good.precision, 0.9);
  EXPECT_GT(good.recall, 0.9);
  // A generator that covers only the centre: precise, low recall.
  const PrecisionRecall narrow = precision_recall(real, same * 0.2);
  EXPECT_GT(narrow.precision, 0.95);
  EXPECT_LT(narrow.recall, 0.5);
  // One that sprays far outside: poor precision.
  const PrecisionRecall wide = precision_recall(real, same * 4.0);
  EXPECT_LT(wide.precision, 0.5);
}

}  // namespace
}  // namespace onestep::diffusion
