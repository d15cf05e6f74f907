// EDM's FIR resampling (Conv2d up/down with any resample_filter, and its fused order): values
// against direct loops of PyTorch's conv2d / conv_transpose2d definitions, the [1,1] fast path
// against the FIR form, and gradients of every mode.

#include <gtest/gtest.h>

#include "onestep/nn/layers.h"
#include "testing/gradcheck.h"

namespace onestep::nn {
namespace {

// outer(f, f) / sum(f)^2 as [1, 1, k, k] in f64.
Tensor filter_2d(const std::vector<double>& f) {
  double sum = 0;
  for (double v : f) sum += v;
  std::vector<double> outer;
  for (double a : f)
    for (double b : f) outer.push_back(a * b / (sum * sum));
  const int64_t k = static_cast<int64_t>(f.size());
  return from_vector(outer, {1, 1, k, k});
}

// y[o] = sum_t x[2 o + t - p] f[t] (conv2d, stride 2, zero padding p), per channel.
Tensor reference_down(const Tensor& x, const Tensor& f, int64_t p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), k = f.size(3);
  const int64_t Ho = (H + 2 * p - k) / 2 + 1, Wo = (W + 2 * p - k) / 2 + 1;
  const std::vector<double> xv = x.contiguous().to_vector<double>();
  const std::vector<double> fv = f.to_vector<double>();
  std::vector<double> y(static_cast<size_t>(N * C * Ho * Wo), 0.0);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j)
        for (int64_t a = 0; a < k; ++a)
          for (int64_t b = 0; b < k; ++b) {
            const int64_t r = 2 * i + a - p, c = 2 * j + b - p;
            if (r < 0 || r >= H || c < 0 || c >= W) continue;
            y[static_cast<size_t>((nc * Ho + i) * Wo + j)] +=
                xv[static_cast<size_t>((nc * H + r) * W + c)] * fv[static_cast<size_t>(a * k + b)];
          }
  return from_vector(y, {N, C, Ho, Wo});
}

// conv_transpose2d(x, 4 f, stride 2, padding p): x[r, c] scatters 4 f[a, b] to [2r + a - p, ...].
Tensor reference_up(const Tensor& x, const Tensor& f, int64_t p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), k = f.size(3);
  const int64_t Ho = 2 * (H - 1) - 2 * p + k, Wo = 2 * (W - 1) - 2 * p + k;
  const std::vector<double> xv = x.contiguous().to_vector<double>();
  const std::vector<double> fv = f.to_vector<double>();
  std::vector<double> y(static_cast<size_t>(N * C * Ho * Wo), 0.0);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c)
        for (int64_t a = 0; a < k; ++a)
          for (int64_t b = 0; b < k; ++b) {
            const int64_t i = 2 * r + a - p, j = 2 * c + b - p;
            if (i < 0 || i >= Ho || j < 0 || j >= Wo) continue;
            y[static_cast<size_t>((nc * Ho + i) * Wo + j)] +=
                4 * xv[static_cast<size_t>((nc * H + r) * W + c)] *
                fv[static_cast<size_t>(a * k + b)];
          }
  return from_vector(y, {N, C, Ho, Wo});
}

TEST(FirResample, MatchesTheDefinitionsOfStridedAndTransposedConvolution) {
  Rng gen(1);
  const Tensor x = randn({2, 3, 6, 6}, gen, DType::f64);
  // An asymmetric filter too, so that a missing flip in the transposed form would show.
  for (const std::vector<double>& taps :
       std::vector<std::vector<double>>{{1, 1}, {1, 3, 3, 1}, {1, 2, 5, 3}}) {
    const Tensor f = filter_2d(taps);
    const int64_t pad = (f.size(3) - 1) / 2;
    EXPECT_LT(testing::max_abs_diff(fir_downsample(x, f, pad), reference_down(x, f, pad)), 1e-14);
    EXPECT_LT(testing::max_abs_diff(fir_upsample(x, f, pad), reference_up(x, f, pad)), 1e-14);
    EXPECT_EQ(fir_upsample(x, f, pad).shape(), Shape({2, 3, 12, 12}));
    EXPECT_EQ(fir_downsample(x, f, pad).shape(), Shape({2, 3, 3, 3}));
  }
}

TEST(FirResample, TheBoxFilterIsNearestUpAndAverageDown) {
  Rng gen(2);
  const Tensor x = randn({1, 2, 4, 4}, gen, DType::f64);
  const Tensor f = filter_2d({1, 1});
  EXPECT_LT(testing::max_abs_diff(fir_downsample(x, f, 0), avg_pool2d(x)), 1e-15);
  EXPECT_LT(testing::max_abs_diff(fir_upsample(x, f, 0), upsample_nearest2d(x)), 1e-15);
}

TEST(FirResample, Conv2dStoresEdmsBufferAndAppliesIt) {
  Rng gen(3);
  Conv2d::Options o;
  o.kernel = 3;
  o.down = true;
  o.resample_filter = {1, 3, 3, 1};
  Conv2d conv(2, 4, o, Init{}, gen);
  conv.to(DType::f64);
  const Tensor f = filter_2d({1, 3, 3, 1});
  EXPECT_LT(testing::max_abs_diff(conv.resample_filter.to(DType::f64), f), 1e-7);  // f32 buffer
  const Tensor x = randn({2, 2, 8, 8}, gen, DType::f64);
  const Tensor w = conv.weight, b = conv.bias;
  const Tensor f32 = conv.resample_filter.to(DType::f64);
  // Down, then the convolution.
  EXPECT_LT(testing::max_abs_diff(conv.forward(x), conv2d(fir_downsample(x, f32, 1), w, b, 1, 1)),
            1e-13);
  // Fused: the convolution padded by both halves, then down without padding, then the bias.
  o.fused_resample = true;
  Conv2d fused(2, 4, o, Init{}, gen);
  fused.to(DType::f64);
  {
    NoGradGuard no_grad;
    fused.weight.copy_(w);
    fused.bias.copy_(b);
  }
  const Tensor expected =
      fir_downsample(conv2d(x, w, Tensor(), 1, 2), f32, 0) + b.reshape({1, -1, 1, 1});
  EXPECT_LT(testing::max_abs_diff(fused.forward(x), expected), 1e-13);
  EXPECT_EQ(fused.forward(x).shape(), Shape({2, 4, 4, 4}));
}

TEST(FirResample, BadFiltersAreClearErrors) {
  Rng gen(0);
  Conv2d::Options o;
  o.up = true;
  for (const std::vector<double>& taps :
       std::vector<std::vector<double>>{{}, {1}, {1, 2, 1}, {1, -1}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}})
  {
    o.resample_filter = taps;
    EXPECT_THROW(Conv2d(2, 2, o, Init{}, gen), Error);
  }
}

TEST(FirResampleGradients, EveryConv2dModePassesGradcheck) {
  struct Mode {
    const char* name;
    int64_t kernel;
    bool up, down, fused;
  };
  const Mode modes[] = {{"up", 3, true, false, false},       {"down", 3, false, true, false},
                        {"fused up", 3, true, false, true},  {"fused down", 3, false, true, true},
                        {"resample only up", 0, true, false, false},
                        {"resample only down", 0, false, true, false}};
  for (const Mode& m : modes) {
    Rng gen(4);
    Conv2d::Options o;
    o.kernel = m.kernel;
    o.up = m.up;
    o.down = m.down;
    o.fused_resample = m.fused;
    o.resample_filter = {1, 3, 3, 1};
    Conv2d conv(2, m.kernel ? 3 : 2, o, Init{}, gen);
    conv.to(DType::f64);
    const Tensor x = randn({2, 2, 4, 4}, gen, DType::f64).set_requires_grad(true);
    std::vector<Tensor> inputs = {x};
    for (const Tensor& p : conv.parameters()) inputs.push_back(p);
    const auto f = [&](const std::vector<Tensor>& in) { return conv.forward(in[0]); };
    EXPECT_EQ(testing::gradcheck(f, inputs), "") << m.name;
  }
}

}  // namespace
}  // namespace onestep::nn
