#include "onestep/diffusion/image_metrics.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "onestep/engine.h"

namespace onestep::diffusion {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Matrix to_matrix(const Tensor& t, const char* what) {
  ONESTEP_CHECK(t.defined() && t.dim() == 2 && t.size(0) > 0 && t.size(1) > 0,
                "{}: expected features [N, D], got {}", what,
                t.defined() ? shape_str(t.shape()) : "undefined");
  const std::vector<double> values = t.to_vector<double>();
  return Eigen::Map<const Matrix>(values.data(), t.size(0), t.size(1));
}

Tensor from_matrix(const Matrix& m) {
  return from_host(m.data(), DType::f64, {m.rows(), m.cols()});
}

// Symmetric positive semi-definite square root via an eigendecomposition.
Matrix sqrt_psd(const Matrix& m) {
  Eigen::SelfAdjointEigenSolver<Matrix> solver(0.5 * (m + m.transpose()));
  const Eigen::VectorXd roots = solver.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return solver.eigenvectors() * roots.asDiagonal() * solver.eigenvectors().transpose();
}

// Squared distances between the rows of a [N, D] and b [M, D].
Matrix squared_distances(const Matrix& a, const Matrix& b) {
  const Eigen::VectorXd na = a.rowwise().squaredNorm(), nb = b.rowwise().squaredNorm();
  Matrix d = -2.0 * a * b.transpose();
  d.colwise() += na;
  d.rowwise() += nb.transpose();
  return d.cwiseMax(0.0);
}

// Rows at a time in the k-NN passes: a block of the distance matrix stays near 100 MB even
// for 10k-point sets (the whole matrix would be 800 MB).
constexpr int64_t kBlockRows = 1024;

// Radius of every row's ball: the squared distance to its k-th nearest other row.
std::vector<double> kth_neighbour_radii(const Matrix& x, int64_t k) {
  std::vector<double> radii(x.rows()), row(x.rows());
  for (int64_t begin = 0; begin < x.rows(); begin += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, x.rows() - begin);
    const Matrix d = squared_distances(x.middleRows(begin, rows), x);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < x.rows(); ++j) row[j] = d(i, j);
      // Position k: the row itself sits at distance 0 in position 0.
      std::nth_element(row.begin(), row.begin() + k, row.end());
      radii[begin + i] = row[k];
    }
  }
  return radii;
}

// Fraction of rows of `query` inside some ball of `manifold`.
double coverage(const Matrix& manifold, const std::vector<double>& radii, const Matrix& query) {
  int64_t inside = 0;
  for (int64_t begin = 0; begin < query.rows(); begin += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, query.rows() - begin);
    const Matrix d = squared_distances(query.middleRows(begin, rows), manifold);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < manifold.rows(); ++j)
        if (d(i, j) <= radii[j]) {
          ++inside;
          break;
        }
  }
  return static_cast<double>(inside) / static_cast<double>(query.rows());
}

// The first m entries of a random permutation of [0, n).
std::vector<int64_t> random_subset(int64_t n, int64_t m, Rng& gen) {
  const auto keys = rand({n}, gen, DType::f64).to_vector<double>();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + m, order.end(),
                    [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  order.resize(m);
  return order;
}

}  // namespace

GaussianStats gaussian_stats(const Tensor& features) {
  const Matrix x = to_matrix(features, "gaussian_stats");
  ONESTEP_CHECK(x.rows() >= 2, "gaussian_stats: need at least 2 feature vectors, got {}", x.rows());
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Matrix centred = x.rowwise() - mean;
  const Matrix covariance = centred.transpose() * centred / static_cast<double>(x.rows() - 1);
  return {from_host(mean.data(), DType::f64, {x.cols()}), from_matrix(covariance)};
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  ONESTEP_CHECK(a.mean.shape() == b.mean.shape() && a.covariance.shape() == b.covariance.shape() &&
                    a.covariance.dim() == 2 && a.covariance.size(0) == a.mean.numel(),
                "frechet_distance: statistics of different sizes ({} and {})",
                shape_str(a.mean.shape()), shape_str(b.mean.shape()));
  const int64_t d = a.mean.numel();
  const auto ma = a.mean.to_vector<double>(), mb = b.mean.to_vector<double>();
  const Matrix sa = to_matrix(a.covariance, "frechet_distance"),
               sb = to_matrix(b.covariance, "frechet_distance");
  double mean_term = 0;
  for (int64_t i = 0; i < d; ++i) mean_term += (ma[i] - mb[i]) * (ma[i] - mb[i]);
  // tr (S_a^1/2 S_b S_a^1/2)^1/2 = sum of square roots of that symmetric matrix's eigenvalues.
  const Matrix root_a = sqrt_psd(sa);
  const Matrix middle = root_a * sb * root_a;
  Eigen::SelfAdjointEigenSolver<Matrix> solver(0.5 * (middle + middle.transpose()),
                                               Eigen::EigenvaluesOnly);
  const double cross = solver.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return mean_term + sa.trace() + sb.trace() - 2.0 * cross;
}

KernelDistance kernel_distance(const Tensor& a, const Tensor& b, int64_t subsets,
                               int64_t subset_size, Rng& gen) {
  const Matrix x = to_matrix(a, "kernel_distance"), y = to_matrix(b, "kernel_distance");
  ONESTEP_CHECK(x.cols() == y.cols(), "kernel_distance: feature sizes differ ({} and {})", x.cols(),
                y.cols());
  ONESTEP_CHECK(
      subsets >= 2 && subset_size >= 2 && subset_size <= x.rows() && subset_size <= y.rows(),
      "kernel_distance: need >= 2 subsets of 2..{} rows, got {} of {}",
      std::min(x.rows(), y.rows()), subsets, subset_size);
  const double d = static_cast<double>(x.cols()), m = static_cast<double>(subset_size);
  auto kernel = [&](const Matrix& p, const Matrix& q) {
    return ((p * q.transpose()).array() / d + 1.0).cube().matrix().eval();
  };
  std::vector<double> values;
  for (int64_t s = 0; s < subsets; ++s) {
    // Without replacement: a repeated row would make the off-diagonal sums biased.
    const auto pick_x = random_subset(x.rows(), subset_size, gen);
    const auto pick_y = random_subset(y.rows(), subset_size, gen);
    Matrix px(subset_size, x.cols()), py(subset_size, y.cols());
    for (int64_t i = 0; i < subset_size; ++i) {
      px.row(i) = x.row(pick_x[i]);
      py.row(i) = y.row(pick_y[i]);
    }
    const Matrix kxx = kernel(px, px), kyy = kernel(py, py), kxy = kernel(px, py);
    // Unbiased: the diagonals of k(x, x) and k(y, y) are left out.
    const double xx = (kxx.sum() - kxx.trace()) / (m * (m - 1));
    const double yy = (kyy.sum() - kyy.trace()) / (m * (m - 1));
    values.push_back(xx + yy - 2.0 * kxy.sum() / (m * m));
  }
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double variance = 0;
  for (double v : values) variance += (v - mean) * (v - mean);
  variance /= static_cast<double>(values.size() - 1);
  return {mean, std::sqrt(variance / static_cast<double>(values.size()))};
}

PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int64_t k) {
  const Matrix r = to_matrix(real, "precision_recall"),
               g = to_matrix(generated, "precision_recall");
  ONESTEP_CHECK(r.cols() == g.cols(), "precision_recall: feature sizes differ ({} and {})",
                r.cols(), g.cols());
  ONESTEP_CHECK(k >= 1 && k < r.rows() && k < g.rows(),
                "precision_recall: k = {} needs more than k points in each set", k);
  PrecisionRecall out;
  out.precision = coverage(r, kth_neighbour_radii(r, k), g);
  out.recall = coverage(g, kth_neighbour_radii(g, k), r);
  return out;
}

}  // namespace onestep::diffusion
