// MatmulPrecision::bf16 on CUDA: cuBLAS's bf16 tensor-core mode (CUBLAS_COMPUTE_32F_FAST_16BF)
// in every GEMM of conv2d and matmul, forward and backward, against the float64 op on
// bfloat16-rounded operands. The emulator rounds as the CPU does (nearest, ties to even): float32
// summation error only. On a GPU the bound allows one bfloat16 rounding of either kind per
// operand, since cuBLAS does not document its conversion.

#include "cuda_test_util.h"
#include "onestep/engine/precision.h"
#include "testing/gradcheck.h"

namespace onestep {
namespace {

using cuda_testing::compare;
using cuda_testing::gpu;
using testing::rounded_to_bf16;

double relative_tolerance() { return cuda::emulated() ? 1e-5 : std::ldexp(2.0, -7); }

Tensor leaf(const Tensor& x) { return x.detach().set_requires_grad(true); }

// Each of `outputs` against `expected` within the tolerance times the largest of `magnitude`
// (the sums of |a||b| behind each element).
void expect_close(const Tensor& actual, const Tensor& expected, const Tensor& magnitude,
                  const char* what) {
  EXPECT_EQ(compare(actual, expected, relative_tolerance() * amax(magnitude).item(), 0), "")
      << what;
}

TEST(CudaBf16, ConvolutionGemmsRoundBothOperands) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(41);
  for (const int64_t stride : {1, 2}) {
    SCOPED_TRACE(fmt::format("stride {}", stride));
    const Tensor x = randn({2, 5, 9, 9}, gen), w = randn({7, 5, 3, 3}, gen) * 0.2;
    const Tensor g = randn(conv2d(x, w, Tensor(), stride, 1).shape(), gen);
    const Tensor xd = leaf(x.to(gpu())), wd = leaf(w.to(gpu()));
    Tensor y;
    {
      MatmulPrecisionScope bf16(MatmulPrecision::bf16);
      y = conv2d(xd, wd, Tensor(), stride, 1);
      y.backward(g.to(gpu()));
    }
    const Tensor x64 = leaf(rounded_to_bf16(x)), w64 = leaf(rounded_to_bf16(w));
    const Tensor y64 = conv2d(x64, w64, Tensor(), stride, 1);
    y64.backward(rounded_to_bf16(g));
    const Tensor ax = leaf(abs(x64.detach())), aw = leaf(abs(w64.detach()));
    const Tensor magnitude = conv2d(ax, aw, Tensor(), stride, 1);
    magnitude.backward(abs(rounded_to_bf16(g)));
    expect_close(y, y64, magnitude, "forward");
    expect_close(xd.grad(), x64.grad(), ax.grad(), "input gradient");
    expect_close(wd.grad(), w64.grad(), aw.grad(), "weight gradient");
  }
}

TEST(CudaBf16, MatmulRoundsBothOperandsAndFloat64IsUntouched) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(42);
  const Tensor a = randn({3, 37, 53}, gen), b = randn({3, 53, 29}, gen);
  const Tensor g = randn({3, 37, 29}, gen);
  const Tensor ad = leaf(a.to(gpu())), bd = leaf(b.to(gpu()));
  Tensor y;
  {
    MatmulPrecisionScope bf16(MatmulPrecision::bf16);
    y = matmul(ad, bd);
    y.backward(g.to(gpu()));
  }
  const Tensor a64 = leaf(rounded_to_bf16(a)), b64 = leaf(rounded_to_bf16(b));
  const Tensor y64 = matmul(a64, b64);
  y64.backward(rounded_to_bf16(g));
  const Tensor aa = leaf(abs(a64.detach())), ab = leaf(abs(b64.detach()));
  const Tensor magnitude = matmul(aa, ab);
  magnitude.backward(abs(rounded_to_bf16(g)));
  expect_close(y, y64, magnitude, "product");
  expect_close(ad.grad(), a64.grad(), aa.grad(), "gradient of a");
  expect_close(bd.grad(), b64.grad(), ab.grad(), "gradient of b");

  // float64 GEMMs ignore the setting: bit for bit the fp32-scope result.
  const Tensor a_f64 = a.to(DType::f64).to(gpu()), b_f64 = b.to(DType::f64).to(gpu());
  const Tensor exact = matmul(a_f64, b_f64);
  MatmulPrecisionScope bf16(MatmulPrecision::bf16);
  EXPECT_EQ(cuda_testing::compare_exact(matmul(a_f64, b_f64), exact), "");
}

}  // namespace
}  // namespace onestep
