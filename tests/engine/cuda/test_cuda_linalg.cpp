// matmul (cuBLAS) and conv2d (im2col + cuBLAS) called directly on the CUDA backend, against
// f64 references on the CPU, for every operand layout the backend accepts. Tolerances scale with
// the magnitude of the products summed: Sum |a||b| for each output element (error bounds of
// floating-point dot products are relative to it, not to the result, which may cancel to ~0).
// f32 GEMMs run without TF32 (ONESTEP_TF32 unset).

#include "../../../engine/src/backend.h"
#include "cuda_test_util.h"

namespace onestep {
namespace {

using cuda_testing::compare;
using cuda_testing::gpu;
using cuda_testing::poisoned;

double relative_tolerance(DType dtype) {
  return dtype == DType::f32 ? 1e-5 : 1e-13;
}

// a3: [B, M, K], b3: [B, K, N] views (any strides) -> f64 [B, M, N], by public CPU ops.
Tensor reference_matmul(const Tensor& a3, const Tensor& b3) {
  return matmul(a3.to(Device::cpu()).to(DType::f64).contiguous(),
                b3.to(Device::cpu()).to(DType::f64).contiguous());
}

struct MatmulCase {
  const char* name;
  std::function<std::pair<Tensor, Tensor>(Rng&, DType)> make;  // on the GPU
};

std::vector<MatmulCase> matmul_cases() {
  const int64_t B = 3, M = 37, K = 53, N = 29;
  auto rnd = [](Rng& g, DType t, const Shape& s) { return randn(s, g, t).to(gpu()); };
  return {
      {"contiguous",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, M, K}), rnd(g, t, {B, K, N})};
       }},
      {"a stored column-major",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, K, M}).transpose(1, 2), rnd(g, t, {B, K, N})};
       }},
      {"b stored column-major",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, M, K}), rnd(g, t, {B, N, K}).transpose(1, 2)};
       }},
      {"both column-major",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, K, M}).transpose(1, 2),
                          rnd(g, t, {B, N, K}).transpose(1, 2)};
       }},
      {"a broadcast over the batch (stride 0)",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {1, M, K}).expand({B, M, K}), rnd(g, t, {B, K, N})};
       }},
      {"b broadcast over the batch (stride 0)",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, M, K}), rnd(g, t, {1, K, N}).expand({B, K, N})};
       }},
      {"padded rows (row stride > cols)",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, M, 2 * K}).slice(2, 3, 3 + K),
                          rnd(g, t, {B, 2 * K, N}).slice(1, 0, 2 * K, 2)};
       }},
      {"no unit stride (copied to scratch)",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, 2 * M, 2 * K}).slice(1, 0, 2 * M, 2).slice(2, 0, 2 * K, 2),
                          rnd(g, t, {B, K, N})};
       }},
      {"row times column (M = N = 1)",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, 1, 100}), rnd(g, t, {B, 100, 1})};
       }},
      {"outer product (K = 1)",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, M, 1}), rnd(g, t, {B, 1, N})};
       }},
      {"empty inner dim (K = 0)",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {B, M, 0}), rnd(g, t, {B, 0, N})};
       }},
      {"one large product",
       [=](Rng& g, DType t) {
         return std::pair{rnd(g, t, {1, 300, 700}), rnd(g, t, {1, 700, 200})};
       }},
  };
}

TEST(CudaLinalg, MatmulMatchesAnF64ReferenceForEveryLayout) {
  ONESTEP_REQUIRE_CUDA();
  for (const MatmulCase& c : matmul_cases()) {
    for (DType dtype : {DType::f32, DType::f64}) {
      SCOPED_TRACE(fmt::format("{} {}", c.name, dtype_name(dtype)));
      Rng gen(31);
      const auto [a, b] = c.make(gen, dtype);
      const Tensor out = poisoned({a.size(0), a.size(1), b.size(2)}, dtype);
      backend::cuda(0).matmul(a, b, out);
      const Tensor expected = reference_matmul(a, b);
      const Tensor magnitude = reference_matmul(abs(a), abs(b));
      const double scale = magnitude.numel() ? amax(magnitude).item() : 0.0;
      EXPECT_EQ(compare(out, expected, relative_tolerance(dtype) * scale + 1e-300, 0), "");
    }
  }
}

TEST(CudaLinalg, MatmulOpWithBroadcastBatchesMatchesTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(32);
  const Tensor a = randn({2, 1, 5, 6}, gen, DType::f64), b = randn({3, 6, 4}, gen, DType::f64);
  EXPECT_EQ(compare(matmul(a.to(gpu()), b.to(gpu())), matmul(a, b), 1e-13, 1e-13), "");
  const Tensor x = randn({4, 7, 6}, gen, DType::f64), w = randn({5, 6}, gen, DType::f64);
  EXPECT_EQ(compare(linear(x.to(gpu()), w.to(gpu())), linear(x, w), 1e-13, 1e-13), "");
}

struct ConvCase {
  const char* name;
  int64_t N, C, H, W, O, kh, kw, stride, pad;
  bool f64 = true;  // also run in f64 (the large case runs in f32 only)
};

std::vector<ConvCase> conv_cases() {
  return {{"3x3 stride 1 pad 1", 2, 3, 5, 5, 4, 3, 3, 1, 1},
          {"3x3 stride 2 pad 0", 2, 2, 6, 7, 3, 3, 3, 2, 0},
          {"1x1 pointwise", 2, 3, 4, 4, 5, 1, 1, 1, 0},
          {"1x1 stride 2", 2, 3, 5, 5, 4, 1, 1, 2, 0},
          {"2x3 stride 2 pad 2", 1, 2, 5, 4, 2, 2, 3, 2, 2},
          {"5x5 pad 2, more channels", 3, 8, 9, 9, 6, 5, 5, 1, 2},
          {"single output pixel", 2, 3, 3, 3, 2, 3, 3, 1, 0},
          // Columns of 37.7 MB per sample: several chunks of the 256 MiB column budget, with
          // the batched GEMM accumulating the weight gradient over them.
          {"many chunks", 9, 64, 128, 128, 8, 3, 3, 1, 1, false}};
}

// The three conv methods on `be`, on tensors that live on `device`: x and grad_x are channel
// slices of larger buffers, so each sample is contiguous but samples are further apart.
struct ConvResults {
  Tensor y, grad_x_buffer, grad_w;
};

ConvResults run_conv(backend::Backend& be, const ConvCase& c, const Tensor& x_buffer,
                     const Tensor& w, const Tensor& grad_y, Device device) {
  const backend::ConvGeometry g{c.stride, c.pad};
  const DType dtype = w.dtype();
  const Tensor x = x_buffer.slice(1, 1, 1 + c.C);
  ConvResults r;
  r.y = poisoned(grad_y.shape(), dtype, device);
  be.conv2d_forward(x, w, r.y, g);
  r.grad_x_buffer = poisoned(x_buffer.shape(), dtype, device);
  be.conv2d_backward_input(grad_y, w, r.grad_x_buffer.slice(1, 1, 1 + c.C), g);
  r.grad_w = poisoned(w.shape(), dtype, device);
  be.conv2d_backward_weight(grad_y, x, r.grad_w, g);
  return r;
}

TEST(CudaLinalg, ConvForwardAndBothBackwardsMatchAnF64Reference) {
  ONESTEP_REQUIRE_CUDA();
  for (const ConvCase& c : conv_cases()) {
    const int64_t Ho = (c.H + 2 * c.pad - c.kh) / c.stride + 1;
    const int64_t Wo = (c.W + 2 * c.pad - c.kw) / c.stride + 1;
    Rng gen(33);
    const Tensor x_buffer = randn({c.N, c.C + 2, c.H, c.W}, gen, DType::f64);
    const Tensor w = randn({c.O, c.C, c.kh, c.kw}, gen, DType::f64);
    const Tensor grad_y = randn({c.N, c.O, Ho, Wo}, gen, DType::f64);
    const ConvResults expected = run_conv(backend::cpu(), c, x_buffer, w, grad_y, Device::cpu());
    const ConvResults magnitude =
        run_conv(backend::cpu(), c, abs(x_buffer), abs(w), abs(grad_y), Device::cpu());
    for (DType dtype : {DType::f32, DType::f64}) {
      if (dtype == DType::f64 && !c.f64) continue;
      SCOPED_TRACE(fmt::format("{} {}", c.name, dtype_name(dtype)));
      const ConvResults actual = run_conv(backend::cuda(0), c, x_buffer.to(dtype).to(gpu()),
                                          w.to(dtype).to(gpu()), grad_y.to(dtype).to(gpu()), gpu());
      const double tol = relative_tolerance(dtype);
      EXPECT_EQ(compare(actual.y, expected.y, tol * amax(magnitude.y).item(), 0), "") << "forward";
      const Tensor gx = actual.grad_x_buffer.slice(1, 1, 1 + c.C);
      EXPECT_EQ(compare(gx, expected.grad_x_buffer.slice(1, 1, 1 + c.C),
                        tol * amax(magnitude.grad_x_buffer.slice(1, 1, 1 + c.C)).item(), 0),
                "")
          << "backward input";
      // The channels around the slice were not written.
      EXPECT_TRUE(std::isnan(amax(actual.grad_x_buffer.slice(1, 0, 1)).item()));
      EXPECT_EQ(compare(actual.grad_w, expected.grad_w, tol * amax(magnitude.grad_w).item(), 0), "")
          << "backward weight";
    }
  }
}

}  // namespace
}  // namespace onestep
