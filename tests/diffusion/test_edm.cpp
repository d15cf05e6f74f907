// EDM closed forms: coefficients, Karras noise levels, the DSM loss of the exact denoiser, and
// Heun's second-order convergence to the exact probability-flow ODE solution.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "onestep/diffusion/edm.h"
#include "onestep/diffusion/sampler.h"
#include "testing/gradcheck.h"

namespace onestep::diffusion {
namespace {

TEST(Edm, CoefficientsMatchTheirDefinitions) {
  const double sd = 0.5;
  for (double s : {0.002, 0.5, 1.0, 80.0}) {
    const EdmCoefficients c = edm_coefficients(s, sd);
    EXPECT_NEAR(c.c_skip, sd * sd / (s * s + sd * sd), 1e-15);
    EXPECT_NEAR(c.c_out, s * sd / std::sqrt(s * s + sd * sd), 1e-15);
    EXPECT_NEAR(c.c_in, 1 / std::sqrt(s * s + sd * sd), 1e-15);
    EXPECT_NEAR(c.c_noise, std::log(s) / 4, 1e-15);
    // The effective training target has unit variance: lambda * c_out^2 = 1.
    EXPECT_NEAR(edm_loss_weight(s, sd) * c.c_out * c.c_out, 1.0, 1e-12);
  }
  const EdmCoefficients half = edm_coefficients(0.5, 0.5);
  EXPECT_DOUBLE_EQ(half.c_skip, 0.5);
}

TEST(Edm, KarrasNoiseLevels) {
  SamplerOptions o;
  const auto t = karras_sigmas(o);
  ASSERT_EQ(t.size(), 19u);
  EXPECT_DOUBLE_EQ(t[0], 80.0);
  EXPECT_NEAR(t[17], 0.002, 1e-15);
  EXPECT_EQ(t[18], 0.0);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_LT(t[i], t[i - 1]);
  EXPECT_EQ(sampler_nfe(o), 35);
  o.method = SamplerMethod::euler;
  EXPECT_EQ(sampler_nfe(o), 18);
  o.sigma_min = 0;
  EXPECT_THROW(karras_sigmas(o), Error);
  EXPECT_THROW(parse_sampler_method("ddim"), Error);
}

TEST(Edm, KarrasGridNoiseLevels) {
  // u ~ U[0, 0.8] on EDM's grid: sigma from 0.002 (u = 0) to 24.4 (u = 0.8), denser at the low end.
  Rng gen(3);
  const std::vector<double> s =
      karras_grid_sigmas(20000, 0.002, 80.0, 7.0, 0.8, gen, DType::f64).to_vector<double>();
  const double top = std::pow(0.2 * std::pow(0.002, 1 / 7.0) + 0.8 * std::pow(80.0, 1 / 7.0), 7.0);
  EXPECT_NEAR(top, 24.4, 0.05);
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  EXPECT_GE(*lo, 0.002);
  EXPECT_LT(*lo, 0.003);
  EXPECT_LE(*hi, top * (1 + 1e-12));
  EXPECT_GT(*hi, 23.0);
  std::vector<double> sorted = s;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double median_u = 0.4;  // sigma at the median of u
  const double median =
      std::pow((1 - median_u) * std::pow(0.002, 1 / 7.0) + median_u * std::pow(80.0, 1 / 7.0), 7.0);
  EXPECT_NEAR(sorted[sorted.size() / 2], median, 0.05 * median);
  EXPECT_THROW(karras_grid_sigmas(4, 0.002, 80.0, 7.0, 1.5, gen), Error);
  EXPECT_THROW(karras_grid_sigmas(4, 80.0, 0.002, 7.0, 0.8, gen), Error);
}

// A "network" for which EdmPrecond computes exactly the denoiser of N(m, s^2) data:
// D(x; sigma) = m + s^2 / (s^2 + sigma^2) (x - m).
class ExactGaussianNet : public nn::NoiseConditionedNet {
 public:
  ExactGaussianNet(double mean, double stddev, double sigma_data)
      : m_(mean), s_(stddev), sd_(sigma_data) {}
  Tensor forward(const Tensor& x_in, const Tensor& c_noise, const Tensor&,
                 Rng*) const override {
    // Undo the preconditioning: sigma = exp(4 c_noise), x = x_in / c_in.
    Shape per_sample(x_in.dim(), 1);
    per_sample[0] = x_in.size(0);
    const Tensor sigma = exp(c_noise * 4.0).reshape(per_sample);
    const Tensor total = sigma * sigma + sd_ * sd_;
    const Tensor x = x_in * sqrt(total);
    const Tensor denoised = (x - m_) * (s_ * s_ / (sigma * sigma + s_ * s_)) + m_;
    const Tensor c_skip = (sd_ * sd_) / total, c_out = sigma * sd_ / sqrt(total);
    return (denoised - c_skip * x) / c_out;
  }
  // No encoder: its features are the (preconditioned) input itself.
  Tensor encode(const Tensor& x_in, const Tensor&, const Tensor&, Rng*) const override {
    return x_in;
  }
  int64_t label_dim() const override { return 0; }

 private:
  double m_, s_, sd_;
};

TEST(Edm, TheDenoisingLossOfTheExactDenoiserEqualsItsClosedForm) {
  const double m = 0.3, s = 0.7;
  EdmPrecond net(std::make_shared<ExactGaussianNet>(m, s, 0.5), 0.5);
  Rng gen(1);
  for (double sigma : {0.05, 0.5, 3.0}) {
    EdmLossOptions o;
    o.p_mean = std::log(sigma);
    o.p_std = 0.0;  // every sample at this sigma
    const int64_t n = 200000, dims = 2;
    const Tensor x0 = randn({n, dims}, gen, DType::f64) * s + m;
    const Tensor loss = edm_loss(net, x0, Tensor(), gen, o);
    // Per dimension: E (D - x0)^2 = s^2 sigma^2 / (s^2 + sigma^2), weighted by lambda(sigma).
    const double expected =
        edm_loss_weight(sigma, 0.5) * dims * s * s * sigma * sigma / (s * s + sigma * sigma);
    const double mc_mean = mean(loss).item();
    const double standard_error = std::sqrt(var(loss).item() / n);
    EXPECT_NEAR(mc_mean, expected, 4 * standard_error) << "sigma " << sigma;
  }
}

TEST(Edm, HeunConvergesAtSecondOrderToTheExactOdeSolution) {
  const double m = -0.4, s = 0.6, sd = 0.5;
  EdmPrecond net(std::make_shared<ExactGaussianNet>(m, s, sd), sd);
  Rng gen(2);
  const Tensor z = randn({64, 3}, gen, DType::f64);
  const auto denoise = [&](const Tensor& x, double sigma) { return net.forward(x, sigma); };
  std::vector<double> errors;
  for (int64_t steps : {8, 16, 32, 64}) {
    SamplerOptions o;
    o.steps = steps;
    const Tensor sample = edm_sample(denoise, z, o);
    // Exact flow: (x - m) / sqrt(s^2 + sigma^2) is constant. Up to t_{N-1} = sigma_min, then the
    // sampler's last step is x = D(x; sigma_min), which the reference applies as well.
    const double smin = o.sigma_min, smax = o.sigma_max;
    const Tensor at_min =
        (z * smax - m) * (std::sqrt(s * s + smin * smin) / std::sqrt(s * s + smax * smax)) + m;
    const Tensor reference = (at_min - m) * (s * s / (s * s + smin * smin)) + m;
    errors.push_back(testing::max_abs_diff(sample, reference));
  }
  for (size_t i = 1; i < errors.size(); ++i) {
    const double order = std::log2(errors[i - 1] / errors[i]);
    EXPECT_GT(order, 1.8) << "steps " << (8 << i) << " errors " << errors[i - 1] << " -> "
                          << errors[i];
    EXPECT_LT(order, 2.6);
  }
  EXPECT_LT(errors.back(), 1e-2);  // samples are O(1): 64 Heun steps are within 1%
}

TEST(Edm, EulerConvergesAtFirstOrder) {
  const double m = 0.2, s = 1.3;
  EdmPrecond net(std::make_shared<ExactGaussianNet>(m, s, 0.5), 0.5);
  Rng gen(3);
  const Tensor z = randn({16, 2}, gen, DType::f64);
  const auto denoise = [&](const Tensor& x, double sigma) { return net.forward(x, sigma); };
  SamplerOptions o;
  o.method = SamplerMethod::euler;
  std::vector<double> errors;
  for (int64_t steps : {32, 64, 128}) {
    o.steps = steps;
    const Tensor at_min = (z * o.sigma_max - m) * (std::sqrt(s * s + o.sigma_min * o.sigma_min) /
                                                   std::sqrt(s * s + o.sigma_max * o.sigma_max)) +
                          m;
    const Tensor reference = (at_min - m) * (s * s / (s * s + o.sigma_min * o.sigma_min)) + m;
    errors.push_back(testing::max_abs_diff(edm_sample(denoise, z, o), reference));
  }
  for (size_t i = 1; i < errors.size(); ++i)
    EXPECT_NEAR(std::log2(errors[i - 1] / errors[i]), 1.0, 0.3);
}

TEST(Edm, OneHotLabels) {
  const Tensor h = one_hot(from_vector<int64_t>({2, 0}, {2}), 3);
  EXPECT_EQ(h.to_vector<float>(), (std::vector<float>{0, 0, 1, 1, 0, 0}));
  EXPECT_THROW(one_hot(from_vector<int64_t>({3}, {1}), 3), Error);
}

}  // namespace
}  // namespace onestep::diffusion
