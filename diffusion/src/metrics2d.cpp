#include "onestep/diffusion/metrics2d.h"

#include <algorithm>
#include <cmath>

#include "onestep/engine.h"

namespace onestep::diffusion {

double sliced_wasserstein(const Tensor& a, const Tensor& b, int64_t projections, Generator& gen) {
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

}  // namespace onestep::diffusion
