#include "onestep/diffusion/metrics2d.h"

#include <algorithm>
#include <cmath>

#include "onestep/engine.h"

namespace onestep::diffusion {

double sliced_wasserstein(const Tensor& a, const Tensor& b, int64_t projections, Rng& gen) {
  ONESTEP_CHECK(a.dim() == 2 && b.dim() == 2 && a.shape() == b.shape() && a.size(0) > 0,
                "sliced_wasserstein: need two [N, D] samples of the same shape, got {} and {}",
                shape_str(a.shape()), shape_str(b.shape()));
  ONESTEP_CHECK(projections >= 1, "sliced_wasserstein: projections must be >= 1");
  NoGradGuard no_grad;
  const int64_t n = a.size(0), dims = a.size(1);
  Tensor directions = randn({dims, projections}, gen, DType::f64);
  directions = directions / sqrt(sum(directions * directions, {0}, true));
  // [N, K] projections, sorted per direction on the host.
  const auto pa =
      matmul(a.to(DType::f64), directions).transpose(0, 1).contiguous().to_vector<double>();
  const auto pb =
      matmul(b.to(DType::f64), directions).transpose(0, 1).contiguous().to_vector<double>();
  double total = 0;
  std::vector<double> x(n), y(n);
  for (int64_t k = 0; k < projections; ++k) {
    std::copy(pa.begin() + k * n, pa.begin() + (k + 1) * n, x.begin());
    std::copy(pb.begin() + k * n, pb.begin() + (k + 1) * n, y.begin());
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    double distance = 0;
    for (int64_t i = 0; i < n; ++i) distance += std::abs(x[i] - y[i]);
    total += distance / static_cast<double>(n);
  }
  return total / static_cast<double>(projections);
}

double mmd_rbf(const Tensor& a, const Tensor& b) {
  ONESTEP_CHECK(
      a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) && a.size(0) >= 2 && b.size(0) >= 2,
      "mmd_rbf: need two [N, D] samples of at least 2 points, got {} and {}", shape_str(a.shape()),
      shape_str(b.shape()));
  NoGradGuard no_grad;
  const Tensor x = a.to(DType::f64), y = b.to(DType::f64);
  auto squared_distances = [](const Tensor& p, const Tensor& q) {
    return clamp(sum(square(p), {1}, true) + sum(square(q), {1}).reshape({1, -1}) -
                     matmul(p, q.transpose(0, 1)) * 2.0,
                 0.0, 1e300);
  };
  // Median heuristic on a subset of the pooled points.
  const Tensor pooled = concat({x.slice(0, 0, std::min<int64_t>(1000, x.size(0))),
                                y.slice(0, 0, std::min<int64_t>(1000, y.size(0)))},
                               0);
  std::vector<double> distances = squared_distances(pooled, pooled).to_vector<double>();
  std::nth_element(distances.begin(), distances.begin() + distances.size() / 2, distances.end());
  const double h2 = std::max(distances[distances.size() / 2], 1e-12);
  auto mean_kernel = [&](const Tensor& p, const Tensor& q, bool same) {
    const Tensor k = exp(squared_distances(p, q) * (-0.5 / h2));
    const double total = sum(k).item() - (same ? static_cast<double>(p.size(0)) : 0.0);
    const double count =
        static_cast<double>(p.size(0)) * (static_cast<double>(q.size(0)) - (same ? 1.0 : 0.0));
    return total / count;
  };
  return mean_kernel(x, x, true) + mean_kernel(y, y, true) - 2.0 * mean_kernel(x, y, false);
}

ModeStats mixture_mode_stats(const Tensor& samples, const Tensor& means, double stddev) {
  ONESTEP_CHECK(samples.dim() == 2 && means.dim() == 2 && samples.size(1) == means.size(1) &&
                    samples.size(0) > 0 && stddev > 0,
                "mixture_mode_stats: need samples [N, D], means [K, D] and a positive std, got {} "
                "and {}",
                shape_str(samples.shape()), shape_str(means.shape()));
  NoGradGuard no_grad;
  const auto x = samples.to(DType::f64).contiguous().to_vector<double>();
  const auto m = means.to(DType::f64).contiguous().to_vector<double>();
  const int64_t n = samples.size(0), k = means.size(0), d = samples.size(1);
  std::vector<int64_t> counts(k, 0);
  int64_t high_quality = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    double best_distance = INFINITY;
    for (int64_t j = 0; j < k; ++j) {
      double distance = 0;
      for (int64_t c = 0; c < d; ++c)
        distance += (x[i * d + c] - m[j * d + c]) * (x[i * d + c] - m[j * d + c]);
      if (distance < best_distance) {
        best_distance = distance;
        best = j;
      }
    }
    if (std::sqrt(best_distance) <= 3 * stddev) {
      ++high_quality;
      ++counts[best];
    }
  }
  ModeStats stats;
  stats.modes = k;
  const double threshold = 10.0 * static_cast<double>(n) / 2500.0;
  for (int64_t c : counts) stats.modes_covered += static_cast<double>(c) >= threshold;
  stats.high_quality_fraction = static_cast<double>(high_quality) / static_cast<double>(n);
  return stats;
}

Tensor toy_mixture_means(const std::string& name, double* stddev) {
  const std::string bare = name.rfind("toy:", 0) == 0 ? name.substr(4) : name;
  std::vector<float> means;
  if (bare == "8gaussians") {
    for (int k = 0; k < 8; ++k) {
      const double angle = 2 * M_PI * k / 8;
      means.push_back(static_cast<float>(2 * std::cos(angle)));
      means.push_back(static_cast<float>(2 * std::sin(angle)));
    }
  } else if (bare == "25gaussians") {
    for (int i = -2; i <= 2; ++i)
      for (int j = -2; j <= 2; ++j) {
        means.push_back(static_cast<float>(i));
        means.push_back(static_cast<float>(j));
      }
  } else {
    return Tensor();
  }
  if (stddev) *stddev = 0.05;
  return from_vector<float>(means, {static_cast<int64_t>(means.size() / 2), 2});
}

PointScores score_points(const Tensor& samples, const DataSource& data,
                         const std::string& data_spec, int64_t projections, uint64_t seed) {
  ONESTEP_CHECK(samples.dim() == 2 && samples.size(1) == 2 && samples.size(0) >= 2,
                "2-D metrics need points [N, 2] with N >= 2, got {}", shape_str(samples.shape()));
  PointScores s;
  s.n = samples.size(0);
  s.projections = projections;
  const Tensor points = samples.to(DType::f64);
  Rng gen(seed);
  s.reference = data.reference_sample(s.n, gen).x;
  const Tensor second = data.reference_sample(s.n, gen).x;
  Rng projection_gen(seed + 1), floor_projection_gen(seed + 1);
  s.sliced_wasserstein = sliced_wasserstein(points, s.reference, projections, projection_gen);
  s.sliced_wasserstein_floor =
      sliced_wasserstein(second, s.reference, projections, floor_projection_gen);
  s.mmd = mmd_rbf(points, s.reference);
  s.mmd_floor = mmd_rbf(second, s.reference);
  double stddev = 0;
  const Tensor means = toy_mixture_means(data_spec, &stddev);
  if (means.defined()) {
    s.mixture = true;
    s.modes = mixture_mode_stats(samples, means, stddev);
    s.data_modes = mixture_mode_stats(second, means, stddev);
  }
  return s;
}

std::string PointScores::json_members() const {
  std::string json = fmt::format(
      "\"n\": {}, \"sliced_wasserstein\": {:.9g}, \"sliced_wasserstein_floor\": {:.9g}, "
      "\"mmd\": {:.9g}, \"mmd_floor\": {:.9g}",
      n, sliced_wasserstein, sliced_wasserstein_floor, mmd, mmd_floor);
  if (mixture)
    json += fmt::format(
        ", \"modes\": {}, \"modes_covered\": {}, \"high_quality\": {:.6g}, "
        "\"high_quality_data\": {:.6g}",
        modes.modes, modes.modes_covered, modes.high_quality_fraction,
        data_modes.high_quality_fraction);
  return json;
}

std::string PointScores::summary(const std::string& data_name) const {
  std::string text = fmt::format(
      "sliced Wasserstein distance to {} ({} points, {} projections): {:.5f}; data-vs-data noise "
      "floor {:.5f} (ratio {:.2f}); MMD^2 {:.6f} (data-vs-data {:.6f})\n",
      data_name, n, projections, sliced_wasserstein, sliced_wasserstein_floor,
      sliced_wasserstein / sliced_wasserstein_floor, mmd, mmd_floor);
  if (mixture)
    text += fmt::format(
        "modes covered {}/{} (data {}/{}), high-quality samples {:.1f}% (data {:.1f}%) (within 3 "
        "std of a mode)\n",
        modes.modes_covered, modes.modes, data_modes.modes_covered, data_modes.modes,
        100 * modes.high_quality_fraction, 100 * data_modes.high_quality_fraction);
  return text;
}

}  // namespace onestep::diffusion
