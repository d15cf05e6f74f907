#include "cuda_test_util.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace onestep::cuda_testing {

namespace {
// Before main, so before the CUDA backend (which reads it once) exists.
const bool kPoisonRequested = [] {
  setenv("ONESTEP_CUDA_POISON", "1", /*overwrite=*/0);
  return true;
}();
}  // namespace

Tensor poisoned(const Shape& shape, DType dtype, Device device) {
  const Tensor t = empty(shape, dtype, device);
  NoGradGuard no_grad;
  t.fill_(is_floating(dtype) ? std::numeric_limits<double>::quiet_NaN()
                             : static_cast<double>(kSentinel));
  return t;
}

std::string compare(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (actual.shape() != expected.shape())
    return fmt::format("shape {} vs expected {}", shape_str(actual.shape()),
                       shape_str(expected.shape()));
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  std::string first;
  double worst = 0;
  int64_t failures = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    bool ok;
    if (std::isnan(e[i]) || std::isnan(a[i])) {
      ok = std::isnan(e[i]) && std::isnan(a[i]);
    } else if (std::isinf(e[i]) || std::isinf(a[i])) {
      ok = a[i] == e[i];
    } else {
      const double err = std::abs(a[i] - e[i]);
      ok = err <= atol + rtol * std::abs(e[i]);
      if (!ok) worst = std::max(worst, err);
    }
    if (!ok) {
      ++failures;
      if (first.empty()) first = fmt::format("element {}: {} vs expected {}", i, a[i], e[i]);
    }
  }
  if (failures == 0) return "";
  return fmt::format("{} of {} elements differ (atol {}, rtol {}); first: {}; largest error {}",
                     failures, a.size(), atol, rtol, first, worst);
}

Tensor special_values(int64_t n, DType dtype, Rng& gen, double scale) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> values = {0.0,  -0.0,  1e-30, -1e-30, 1e-3, -1e-3, 0.5,
                                -0.5, 1.0,   -1.0,  2.0,    -2.0, 20.0,  -20.0,
                                90.0, -90.0, 1e4,   -1e4,   inf,  -inf,  std::nan("")};
  const std::vector<double> random = (randn({n}, gen, DType::f64) * scale).to_vector<double>();
  values.insert(values.end(), random.begin(), random.end());
  return from_vector<double>(values, {static_cast<int64_t>(values.size())}).to(dtype);
}

}  // namespace onestep::cuda_testing
