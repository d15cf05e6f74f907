// CPU kernels against plain loops in f64, at sizes that take the threaded and blocked paths.

#include <gtest/gtest.h>

#include "testing/gradcheck.h"

namespace onestep {
namespace {

using testing::max_abs_diff;

Tensor naive_matmul(const Tensor& a, const Tensor& b) {  // [M, K] @ [K, N]
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> out(M * N, 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) out[i * N + j] += av[i * K + k] * bv[k * N + j];
  return from_vector<double>(out, {M, N});
}

struct ConvCase {
  int64_t N, C, H, W, O, kh, kw, stride, pad;
};

// y[n,o,i,j] = sum_{c,p,q} x[n,c,i*s-pad+p, j*s-pad+q] w[o,c,p,q]
Tensor naive_conv(const Tensor& x, const Tensor& w, const ConvCase& c) {
  const int64_t Ho = (c.H + 2 * c.pad - c.kh) / c.stride + 1,
                Wo = (c.W + 2 * c.pad - c.kw) / c.stride + 1;
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> y(c.N * c.O * Ho * Wo, 0.0);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double acc = 0;
          for (int64_t ch = 0; ch < c.C; ++ch)
            for (int64_t p = 0; p < c.kh; ++p)
              for (int64_t q = 0; q < c.kw; ++q) {
                const int64_t ih = i * c.stride - c.pad + p, iw = j * c.stride - c.pad + q;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                acc += xv[((n * c.C + ch) * c.H + ih) * c.W + iw] *
                       wv[((o * c.C + ch) * c.kh + p) * c.kw + q];
              }
          y[((n * c.O + o) * Ho + i) * Wo + j] = acc;
        }
  return from_vector<double>(y, {c.N, c.O, Ho, Wo});
}

TEST(CpuKernels, MatmulMatchesLoopsForEveryOperandLayout) {
  Rng gen(1);
  const Tensor a = randn({70, 90}, gen, DType::f64), b = randn({90, 50}, gen, DType::f64);
  const Tensor expected = naive_matmul(a, b);
  EXPECT_LE(max_abs_diff(matmul(a, b), expected), 1e-10);
  // Column-major operands (transposed views) and strided rows go through other Eigen maps.
  const Tensor at = a.transpose(0, 1).contiguous().transpose(0, 1);
  const Tensor bt = b.transpose(0, 1).contiguous().transpose(0, 1);
  EXPECT_LE(max_abs_diff(matmul(at, bt), expected), 1e-10);
  const Tensor wide = randn({70, 180}, gen, DType::f64);
  EXPECT_LE(max_abs_diff(matmul(wide.slice(1, 0, 180, 2), b),
                         naive_matmul(wide.slice(1, 0, 180, 2).contiguous(), b)),
            1e-10);
  // Neither dim of unit stride: copied first.
  const Tensor both = randn({140, 180}, gen, DType::f64).slice(0, 0, 140, 2).slice(1, 0, 180, 2);
  EXPECT_LE(max_abs_diff(matmul(both, b), naive_matmul(both.contiguous(), b)), 1e-10);
}

TEST(CpuKernels, BatchedMatmulBroadcastsTheBatch) {
  Rng gen(2);
  const Tensor a = randn({6, 1, 5, 7}, gen, DType::f64), b = randn({3, 7, 4}, gen, DType::f64);
  const Tensor c = matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{6, 3, 5, 4}));
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 3; ++j)
      EXPECT_LE(max_abs_diff(c.select(0, i).select(0, j),
                             naive_matmul(a.select(0, i).select(0, 0), b.select(0, j))),
                1e-12);
}

TEST(CpuKernels, Conv2dForwardAndBackwardMatchLoops) {
  const ConvCase cases[] = {
      {5, 3, 9, 9, 4, 3, 3, 1, 1},  // odd batch over 2 threads
      {1, 4, 8, 6, 3, 3, 3, 2, 1},  // one sample: Eigen threads the GEMM
      {3, 2, 7, 7, 5, 1, 1, 1, 0},  // pointwise: no im2col
      {2, 3, 6, 5, 2, 2, 3, 2, 2},  // padding larger than the kernel overhang
      {2, 2, 5, 5, 3, 5, 5, 1, 0},  // kernel as large as the input
      {4, 2, 8, 8, 2, 1, 1, 2, 0},  // strided pointwise (downsampling skip)
  };
  Rng gen(3);
  for (const ConvCase& c : cases) {
    const Tensor x = randn({c.N, c.C, c.H, c.W}, gen, DType::f64).set_requires_grad(true);
    const Tensor w = randn({c.O, c.C, c.kh, c.kw}, gen, DType::f64).set_requires_grad(true);
    const Tensor y = conv2d(x, w, Tensor(), c.stride, c.pad);
    EXPECT_LE(max_abs_diff(y, naive_conv(x.detach(), w.detach(), c)), 1e-11);
    // conv is bilinear: <g, conv(x, w)> = <grad_x, x> = <grad_w, w>.
    const Tensor g = randn(y.shape(), gen, DType::f64);
    y.backward(g);
    const double inner = sum(g * y.detach()).item();
    EXPECT_NEAR(sum(x.grad() * x.detach()).item(), inner, 1e-9 * (1 + std::abs(inner)));
    EXPECT_NEAR(sum(w.grad() * w.detach()).item(), inner, 1e-9 * (1 + std::abs(inner)));
  }
}

TEST(CpuKernels, Float32ConvAtUNetSizeMatchesFloat64) {
  Rng gen(4);
  const Tensor x = randn({4, 16, 16, 16}, gen), w = randn({16, 16, 3, 3}, gen) * 0.1;
  const Tensor y32 = conv2d(x, w, Tensor(), 1, 1);
  const Tensor y64 = conv2d(x.to(DType::f64), w.to(DType::f64), Tensor(), 1, 1);
  EXPECT_LE(max_abs_diff(y32, y64), 1e-4);
}

// float convolutions run their own packed GEMM (cpu_sgemm.h) where AVX-512 or AVX2 is built,
// double runs Eigen: every output and gradient of the one against the other, at shapes that
// leave partial 6-row panels, partial 8- and 16-lane vectors, partial 64-column blocks and
// 16-column tiles, several 512-deep
// slices of the reduction (forward: 64 * 9 = 576), output widths that take the column-block
// im2col (widths dividing 64) and those that do not, and weight gradients on both sides of the
// switch to dot products at 512 pixels, with partial tiles and several 1024-pixel slices.
TEST(CpuKernels, Float32ConvGradientsMatchFloat64AtEdgeShapes) {
  const ConvCase cases[] = {
      {3, 5, 9, 9, 7, 3, 3, 1, 1},     // 7 outputs: one full and one 1-row panel; 81 pixels
      {1, 3, 13, 11, 13, 3, 3, 1, 1},  // one sample: column blocks over threads; 143 pixels
      {2, 64, 8, 8, 10, 3, 3, 1, 1},   // reduction of 576 in the forward pass
      {2, 4, 24, 24, 6, 3, 3, 1, 1},   // 576 pixels: the weight gradient's reduction
      {3, 9, 7, 5, 17, 1, 1, 1, 0},    // pointwise, 35 pixels
      {2, 6, 10, 10, 5, 3, 3, 2, 1},   // stride 2
      {2, 3, 5, 16, 7, 3, 3, 1, 1},    // rows of 16: im2col into column blocks, 64 + 16 pixels
      {1, 5, 3, 4, 4, 3, 3, 1, 1},     // rows of 4, one partial block of 12 pixels
      {1, 2, 33, 33, 3, 3, 3, 1, 1},   // weight gradient by dot products: 1089 pixels, 2 slices
      {2, 5, 24, 24, 7, 1, 1, 1, 0},   // ... pointwise, partial 6x4 tiles
  };
  Rng gen(11);
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << "N" << c.N << " C" << c.C << " " << c.H << "x" << c.W
                                      << " O" << c.O << " k" << c.kh << " s" << c.stride);
    const Tensor x64 = randn({c.N, c.C, c.H, c.W}, gen, DType::f64);
    const Tensor w64 = randn({c.O, c.C, c.kh, c.kw}, gen, DType::f64) * 0.2;
    const Tensor b64 = randn({c.O}, gen, DType::f64);  // added while each output is in cache
    const Tensor x32 = x64.to(DType::f32).set_requires_grad(true);
    const Tensor w32 = w64.to(DType::f32).set_requires_grad(true);
    const Tensor b32 = b64.to(DType::f32).set_requires_grad(true);
    for (const Tensor& t : {x64, w64, b64}) t.set_requires_grad(true);
    const Tensor y64 = conv2d(x64, w64, b64, c.stride, c.pad);
    const Tensor y32 = conv2d(x32, w32, b32, c.stride, c.pad);
    EXPECT_LE(max_abs_diff(y64, naive_conv(x64.detach(), w64.detach(), c) +
                                    b64.detach().view({1, c.O, 1, 1})),
              1e-11);
    const Tensor g64 = randn(y64.shape(), gen, DType::f64);
    y64.backward(g64);
    y32.backward(g64.to(DType::f32));
    // float32 sums of up to 576 products of unit-scale terms
    EXPECT_LE(max_abs_diff(y32, y64), 2e-4);
    EXPECT_LE(max_abs_diff(x32.grad(), x64.grad()), 2e-4);
    EXPECT_LE(max_abs_diff(w32.grad(), w64.grad()), 1e-3);
    EXPECT_LE(max_abs_diff(b32.grad(), b64.grad()), 1e-3);
  }
}

TEST(CpuKernels, ReductionsOverEveryDimSubsetMatchLoops) {
  Rng gen(5);
  const Tensor x = randn({3, 4, 5}, gen, DType::f64);
  const auto v = x.to_vector<double>();
  for (int mask = 1; mask < 8; ++mask) {
    std::vector<int64_t> dims;
    for (int d = 0; d < 3; ++d)
      if (mask & (1 << d)) dims.push_back(d);
    for (const Tensor& input : {x, testing::with_layout(x, testing::Layout::permuted)}) {
      const Tensor s = sum(input, dims, true), m = amax(input, dims, true);
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 4; ++j)
          for (int64_t k = 0; k < 5; ++k) {
            // The output cell this element reduces into.
            const int64_t oi = (mask & 1) ? 0 : i, oj = (mask & 2) ? 0 : j, ok = (mask & 4) ? 0 : k;
            double total = 0, best = -1e300;
            for (int64_t a = 0; a < 3; ++a)
              for (int64_t b = 0; b < 4; ++b)
                for (int64_t c = 0; c < 5; ++c) {
                  if (((mask & 1) ? 0 : a) != oi || ((mask & 2) ? 0 : b) != oj ||
                      ((mask & 4) ? 0 : c) != ok)
                    continue;
                  const double value = v[(a * 4 + b) * 5 + c];
                  total += value;
                  best = std::max(best, value);
                }
            const int64_t index = (oi * s.size(1) + oj) * s.size(2) + ok;
            EXPECT_NEAR(s.to_vector<double>()[index], total, 1e-12);
            EXPECT_EQ(m.to_vector<double>()[index], best);
          }
    }
  }
}

TEST(CpuKernels, LargeReductionsTakeTheThreadedPathsCorrectly) {
  Rng gen(6);
  const Tensor x = randn({3, 200000}, gen, DType::f64);
  const auto v = x.to_vector<double>();
  double total = 0;
  for (double e : v) total += e;
  EXPECT_NEAR(sum(x).item(), total, 1e-8);  // few long rows: split across threads
  const Tensor cols = sum(x, {0});          // [O=1, R=3, I=200000]
  EXPECT_NEAR(cols.to_vector<double>()[12345], v[12345] + v[212345] + v[412345], 1e-12);
  const Tensor f = randn({4096, 300}, gen);
  EXPECT_LE(max_abs_diff(sum(f, {1}), sum(f.to(DType::f64), {1})), 1e-3);
}

TEST(CpuKernels, LargeElementwiseOpsAgreeAcrossThreadCounts) {
  Rng gen(7);
  const Tensor a = randn({1000, 700}, gen), b = randn({700}, gen);
  const int before = num_threads();
  set_num_threads(1);
  const Tensor one = tanh(a) * b + exp(a * 0.1);
  set_num_threads(std::max(2, before));
  const Tensor many = tanh(a) * b + exp(a * 0.1);
  set_num_threads(before);
  EXPECT_EQ(max_abs_diff(one, many), 0.0);
}

TEST(CpuKernels, IndexSelectGathersAndItsGradientScattersWithRepeats) {
  const Tensor table = arange(0, 12, 1, DType::f64).reshape({4, 3}).set_requires_grad(true);
  const Tensor idx = from_vector<int64_t>({3, 3, 0}, {3});
  const Tensor rows = index_select(table, 0, idx);
  EXPECT_EQ(rows.to_vector<double>(), (std::vector<double>{9, 10, 11, 9, 10, 11, 0, 1, 2}));
  sum(rows).backward();
  EXPECT_EQ(table.grad().to_vector<double>(),
            (std::vector<double>{1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2}));
}

TEST(CpuKernels, SoftmaxIsStableForLargeLogits) {
  const Tensor x = from_vector<float>({1000, 1001, -1000}, {1, 3});
  const auto p = softmax(x, 1).to_vector<float>();
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(1.0)), 1e-6);
  EXPECT_EQ(p[2], 0.0f);
  EXPECT_TRUE(std::isfinite(log_softmax(x, 1).to_vector<float>()[2]));
  // BCE with logits stays finite where the naive formula overflows.
  EXPECT_NEAR(
      bce_with_logits(from_vector<float>({100, -100}, {2}), from_vector<float>({0, 1}, {2})).item(),
      100.0, 1e-4);
}

TEST(CpuKernels, GroupNormNormalisesEachGroup) {
  Rng gen(8);
  const Tensor x = randn({2, 8, 4, 4}, gen, DType::f64) * 3.0 + 1.0;
  const Tensor y = group_norm(x, 4).reshape({2, 4, -1});
  EXPECT_LE(amax(abs(mean(y, {2}))).item(), 1e-12);
  EXPECT_LE(amax(abs(var(y, {2}, 0) - 1.0)).item(), 1e-4);  // eps 1e-5 shrinks it slightly
}

}  // namespace
}  // namespace onestep
