// The discriminator head l(x; sigma) (the mean of the fake network's encoder bottleneck), trained
// with the distillation's discriminator loss (uniform weighting) at several noise levels at once,
// estimates log r(x; sigma) = log p_sigma(x) - log q_sigma(x) for two Gaussians, whose noised
// densities N(m, V + sigma^2 I) are exact. Checked per sigma on held-out noised points, for the
// 2-D MLP head and for a tiny SongUNet's head on 8x8 images:
//   - calibration: the least-squares line of l on the true log r has slope ~1 and intercept ~0
//     (a correlation alone cannot see a miscalibrated l = 0.5 log r + 2);
//   - the input gradient, which the generator's loss follows: the mean per-point cosine between
//     grad_x l and grad_x log r, and the ratio of their mean norms.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "onestep/diffusion/model_config.h"
#include "onestep/distill/distill.h"
#include "onestep/engine.h"
#include "onestep/nn/optimizer.h"

namespace onestep::distill {
namespace {

// A Gaussian with a diagonal covariance over the elements of one sample.
struct DiagonalGaussian {
  std::vector<double> mean, variance;
};

struct RatioProblem {
  Shape sample_shape;     // [2] or [C, H, W]
  DiagonalGaussian p, q;  // the real (label 1) and the fake (label 0) distribution
};

Shape batch_shape(const Shape& sample_shape, int64_t n) {
  Shape shape = {n};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  return shape;
}

// [n, *sample_shape] ~ N(mean, diag(variance)).
Tensor sample(const DiagonalGaussian& g, const Shape& sample_shape, int64_t n, Rng& gen) {
  std::vector<float> mean, sd;
  for (double m : g.mean) mean.push_back(static_cast<float>(m));
  for (double v : g.variance) sd.push_back(static_cast<float>(std::sqrt(v)));
  const Shape one = batch_shape(sample_shape, 1);
  return randn(batch_shape(sample_shape, n), gen) * from_vector(sd, one) + from_vector(mean, one);
}

// The exact log r(x; sigma) at one noised point x (its elements in order), and grad_x log r.
double true_log_ratio(const RatioProblem& problem, const float* x, double sigma,
                      std::vector<double>& grad) {
  const double s2 = sigma * sigma;
  double log_r = 0;
  for (size_t d = 0; d < grad.size(); ++d) {
    const double vp = problem.p.variance[d] + s2, vq = problem.q.variance[d] + s2;
    const double dp = x[d] - problem.p.mean[d], dq = x[d] - problem.q.mean[d];
    log_r += -0.5 * (dp * dp / vp + std::log(vp)) + 0.5 * (dq * dq / vq + std::log(vq));
    grad[d] = -dp / vp + dq / vq;
  }
  return log_r;
}

struct Training {
  int steps;
  int64_t batch;
  double lr;
};

// Each pair of real and fake points gets one sigma, drawn uniformly from `sigmas`, and one noise
// draw, as in the distillation's discriminator step. Adam with beta1 = 0.9, not the
// distillation's 0: with beta1 = 0 and as many or twice the steps, the SongUNet head's slopes
// ranged over 0.89-1.19 and its intercepts up to 0.17, too near the bounds; this test is about
// what the loss and the head estimate, not about the optimizer. The learning rate decays linearly
// to 0 over the last 80% of the steps so that the final logit is not set by the noise of the last
// few batches.
void train_head(diffusion::EdmPrecond& net, const RatioProblem& problem,
                const std::vector<double>& sigmas, const Training& training, Rng& gen) {
  nn::Adam adam(net.parameters(), nn::AdamOptions{training.lr, 0.9, 0.999, 1e-8, 0.0});
  const int64_t n = training.batch;
  for (int step = 0; step < training.steps; ++step) {
    const double remaining = 1.0 - static_cast<double>(step) / training.steps;
    adam.set_learning_rate(training.lr * std::min(1.0, remaining / 0.8));
    std::vector<float> sigma;
    for (int64_t i : randint(0, static_cast<int64_t>(sigmas.size()), {n}, gen).to_vector<int64_t>())
      sigma.push_back(static_cast<float>(sigmas[i]));
    adam.zero_grad();
    const Tensor real = sample(problem.p, problem.sample_shape, n, gen);
    const Tensor fake = sample(problem.q, problem.sample_shape, n, gen);
    mean(discriminator_loss(net, real, Tensor(), fake, Tensor(), from_vector(sigma, {n}),
                            randn(real.shape(), gen)))
        .backward();
    adam.step();
  }
}

struct RatioFit {
  // The bulk: the range of the true log r over the central 90% of the points.
  double bulk_low, bulk_high;
  // The least-squares line of l on log r and their correlation, over the bulk.
  double slope, intercept, correlation;
  // The mean over all points of cos(grad_x l, grad_x log r); mean |grad_x l| / mean |grad log r|.
  double gradient_cosine, norm_ratio;
};

// Fills the calibration part of `fit`. The bulk is the points whose true log r lies within its
// central 90% (the 5% to 95% quantiles): the tails are where one class is rare, so the head is
// barely trained there, and they would dominate a least-squares fit.
void fit_line_over_bulk(const std::vector<double>& truth, const std::vector<double>& estimate,
                        RatioFit& fit) {
  std::vector<double> sorted = truth;
  std::sort(sorted.begin(), sorted.end());
  const size_t count = sorted.size();
  fit.bulk_low = sorted[count / 20];
  fit.bulk_high = sorted[count - 1 - count / 20];
  auto in_bulk = [&](size_t i) { return truth[i] >= fit.bulk_low && truth[i] <= fit.bulk_high; };
  double n = 0, mean_t = 0, mean_e = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!in_bulk(i)) continue;
    n += 1;
    mean_t += truth[i];
    mean_e += estimate[i];
  }
  mean_t /= n;
  mean_e /= n;
  double stt = 0, see = 0, ste = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!in_bulk(i)) continue;
    const double t = truth[i] - mean_t, e = estimate[i] - mean_e;
    stt += t * t;
    see += e * e;
    ste += t * e;
  }
  fit.slope = ste / stt;
  fit.intercept = mean_e - fit.slope * mean_t;
  fit.correlation = ste / std::sqrt(stt * see);
}

// Held-out points at one sigma: n noised samples of each of p and q.
RatioFit measure(const diffusion::EdmPrecond& net, const RatioProblem& problem, double sigma,
                 int64_t n, Rng& gen) {
  const Tensor clean = concat({sample(problem.p, problem.sample_shape, n, gen),
                               sample(problem.q, problem.sample_shape, n, gen)},
                              0);
  const Tensor x = (clean + randn(clean.shape(), gen) * sigma).set_requires_grad(true);
  const Tensor logit = discriminator_logit(net, x, full({2 * n}, sigma));
  const Tensor logit_grad = autograd::grad({sum(logit)}, {x})[0];

  const auto points = x.detach().to_vector<float>();
  const auto estimate = logit.detach().to(DType::f64).to_vector<double>();
  const auto estimate_grad = logit_grad.to(DType::f64).to_vector<double>();
  const size_t count = estimate.size(), dim = points.size() / count;
  std::vector<double> truth(count), grad(dim);
  double cosine_sum = 0, estimate_norm_sum = 0, truth_norm_sum = 0;
  for (size_t i = 0; i < count; ++i) {
    truth[i] = true_log_ratio(problem, &points[i * dim], sigma, grad);
    double dot = 0, estimate_sq = 0, truth_sq = 0;
    for (size_t d = 0; d < dim; ++d) {
      const double g = estimate_grad[i * dim + d];
      dot += g * grad[d];
      estimate_sq += g * g;
      truth_sq += grad[d] * grad[d];
    }
    cosine_sum += dot / std::sqrt(estimate_sq * truth_sq + 1e-300);
    estimate_norm_sum += std::sqrt(estimate_sq);
    truth_norm_sum += std::sqrt(truth_sq);
  }
  RatioFit fit;
  fit_line_over_bulk(truth, estimate, fit);
  fit.gradient_cosine = cosine_sum / static_cast<double>(count);
  fit.norm_ratio = estimate_norm_sum / truth_norm_sum;
  return fit;
}

// What each head must reach at every sigma. Set from measurements over several seeds (see each
// test) with a margin; a miscalibrated l' = 0.5 l + 2 fails the slope, intercept and norm
// bounds, a sign flip the slope, correlation and cosine bounds.
struct Bounds {
  double slope_tolerance;      // |slope - 1|
  double intercept_tolerance;  // |intercept|
  double min_correlation;
  double min_cosine;            // mean cos(grad l, grad log r)
  double norm_ratio_tolerance;  // |mean |grad l| / mean |grad log r| - 1|
};

// Trains the head at all of `sigmas` at once, then measures and checks each sigma on
// `held_out` noised samples of each of p and q.
void check_head(const char* head, diffusion::EdmPrecond& net, const RatioProblem& problem,
                const std::vector<double>& sigmas, const Training& training, int64_t held_out,
                const Bounds& bounds, uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  Rng gen(seed);
  train_head(net, problem, sigmas, training, gen);
  const auto trained = std::chrono::steady_clock::now();
  for (double sigma : sigmas) {
    const RatioFit fit = measure(net, problem, sigma, held_out, gen);
    std::printf(
        "%s sigma %.2f (bulk log r in [%.2f, %.2f]): slope %.3f intercept %+.3f correlation "
        "%.4f | grad cosine %.3f norm ratio %.3f\n",
        head, sigma, fit.bulk_low, fit.bulk_high, fit.slope, fit.intercept, fit.correlation,
        fit.gradient_cosine, fit.norm_ratio);
    const std::string where = fmt::format("{} head at sigma {}", head, sigma);
    EXPECT_NEAR(fit.slope, 1.0, bounds.slope_tolerance) << where;
    EXPECT_NEAR(fit.intercept, 0.0, bounds.intercept_tolerance) << where;
    EXPECT_GT(fit.correlation, bounds.min_correlation) << where;
    EXPECT_GT(fit.gradient_cosine, bounds.min_cosine) << where;
    EXPECT_NEAR(fit.norm_ratio, 1.0, bounds.norm_ratio_tolerance) << where;
  }
  const auto done = std::chrono::steady_clock::now();
  std::printf("%s head: training %.1f s, measuring %.1f s\n", head,
              std::chrono::duration<double>(trained - start).count(),
              std::chrono::duration<double>(done - trained).count());
}

const std::vector<double> kSigmas = {0.05, 0.3, 1.0, 2.5};

TEST(DensityRatio, TheMlpHeadIsACalibratedLogRatioWithTheRightGradient) {
  // p = N((1, 0), diag(1, 0.5)), q = N((-0.5, 0.5), diag(0.5, 1.2)): far enough apart that log r
  // still spans [-1, 1] in the bulk at sigma = 2.5, so that a slope can be measured there.
  const RatioProblem problem{{2}, {{1.0, 0.0}, {1.0, 0.5}}, {{-0.5, 0.5}, {0.5, 1.2}}};
  diffusion::ModelConfig config;
  config.arch = diffusion::NetworkArch::mlp;
  config.mlp.hidden = 64;
  config.mlp.num_blocks = 2;
  Rng init(7);
  const auto net = diffusion::build_denoiser(config, init);
  // Measured over four seeds: slope 0.96-1.04, |intercept| < 0.03, correlation > 0.997,
  // cosine > 0.99, norm ratio 0.91-1.07 (lowest at small sigma, where log r is steepest).
  check_head("mlp", *net, problem, kSigmas, Training{1500, 256, 4e-3}, 4000,
             Bounds{0.1, 0.1, 0.99, 0.97, 0.2}, 11);
}

// 1x8x8 images: p's mean is a smooth pattern and q's its negative; p's per-pixel variance is
// 0.25 (sigma_data^2, as for real images) and q's varies across the image from 0.18 to 0.32.
// The means differ little per pixel since log r sums over all 64 pixels: the bulk of log r spans
// about [-5, 5] at sigma = 0.05 and [-0.6, 0.6] at sigma = 2.5.
RatioProblem image_problem() {
  const int size = 8;
  RatioProblem problem{{1, size, size}, {}, {}};
  for (int i = 0; i < size; ++i) {
    for (int j = 0; j < size; ++j) {
      const double u = (i + 0.5) / size, v = (j + 0.5) / size;
      const double pattern = 0.05 * std::cos(M_PI * u) * (1.0 + std::sin(M_PI * v));
      problem.p.mean.push_back(pattern);
      problem.q.mean.push_back(-pattern);
      problem.p.variance.push_back(0.25);
      problem.q.variance.push_back(0.25 * (0.7 + 0.6 * v));
    }
  }
  return problem;
}

TEST(DensityRatio, TheSongUNetHeadIsACalibratedLogRatioWithTheRightGradient) {
  // A small SongUNet with one downsampling level: the head is the mean of its [16, 4, 4]
  // bottleneck. No attention, to keep the training to about 20 s of one core; model_channels 4
  // calibrated worse (slope 0.86 at sigma 0.05).
  diffusion::ModelConfig config;
  config.arch = diffusion::NetworkArch::songunet;
  config.unet.img_resolution = 8;
  config.unet.in_channels = config.unet.out_channels = 1;
  config.unet.model_channels = 8;
  config.unet.channel_mult = {1, 2};
  config.unet.num_blocks = 1;
  config.unet.attn_resolutions = {};
  config.unet.dropout = 0.0;
  config.data_shape = {1, 8, 8};
  Rng init(7);
  const auto net = diffusion::build_denoiser(config, init);
  net->eval();
  // 600 steps is the least that calibrates (450 gave slopes down to 0.86). Measured over four
  // seeds: slope 0.91-1.09 (below 1 at small sigma, above at 2.5: one network spans a 26-fold
  // change of the scale of log r), |intercept| < 0.1, correlation > 0.98, norm ratio 0.82-1.11,
  // cosine 0.97-0.98 at sigma >= 1 but only 0.92-0.95 at sigma <= 0.3, where a larger share of
  // grad log r is the pixel-by-pixel term (x - m)(1/V_q - 1/V_p), as rough as the sample itself;
  // hence a cosine bound of 0.85 rather than 0.9.
  check_head("songunet", *net, image_problem(), kSigmas, Training{600, 128, 1e-2}, 1000,
             Bounds{0.2, 0.2, 0.95, 0.85, 0.3}, 12);
}

}  // namespace
}  // namespace onestep::distill
