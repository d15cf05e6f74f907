// The fused group norm kernels on CUDA, beyond the op table's rows (test_cuda_ops.cpp): they are
// the path the op takes on the device, they agree with the composite on the device, gradients
// requested for only some inputs, and UNet shapes with many groups and samples (blocks looping
// over several groups, channels longer than a block).

#include "cuda_test_util.h"

namespace onestep {
namespace {

using cuda_testing::compare;
using cuda_testing::gpu;

struct NormRun {
  Tensor y, gx, gw, gb;
};

// wants: which of x, weight, bias require grad.
NormRun run(const Shape& shape, int64_t groups, bool silu, bool fused, Device device, DType dtype,
        std::array<bool, 3> wants) {
  Rng gen(11);
  const int64_t C = shape[1];
  Tensor x = (randn(shape, gen, DType::f64) * 1.7 + 0.4).to(dtype).to(device);
  Tensor w = (randn({C}, gen, DType::f64) * 0.5 + 1.0).to(dtype).to(device);
  Tensor b = (randn({C}, gen, DType::f64) * 0.5).to(dtype).to(device);
  const Tensor cotangent = randn(shape, gen, DType::f64).to(dtype).to(device);
  x.set_requires_grad(wants[0]);
  w.set_requires_grad(wants[1]);
  b.set_requires_grad(wants[2]);
  Tensor y;
  if (fused) {
    y = silu ? group_norm_silu(x, groups, w, b, 1e-6) : group_norm(x, groups, w, b, 1e-6);
  } else {
    y = reference::group_norm(x, groups, w, b, 1e-6);
    if (silu) y = onestep::silu(y);
  }
  y.backward(cotangent);
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

void expect_match(const NormRun& actual, const NormRun& expected, double tol) {
  EXPECT_EQ(compare(actual.y, expected.y, tol, tol), "") << "output";
  const std::pair<const Tensor*, const Tensor*> grads[] = {
      {&actual.gx, &expected.gx}, {&actual.gw, &expected.gw}, {&actual.gb, &expected.gb}};
  for (const auto& [a, e] : grads) {
    ASSERT_EQ(a->defined(), e->defined());
    if (a->defined()) {
      EXPECT_EQ(compare(*a, *e, tol, tol), "") << "gradient";
    }
  }
}

TEST(CudaGroupNorm, TheOpRunsTheFusedKernelOnTheDevice) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(1);
  const Tensor x = randn({2, 4, 3, 3}, gen).to(gpu());
  const Tensor w = ones({4}, DType::f32, gpu()).set_requires_grad(true);
  EXPECT_EQ(group_norm_silu(x, 2, w, Tensor(), 1e-6).grad_fn_name(), "group_norm_silu");
  EXPECT_EQ(group_norm(x, 2, w, Tensor(), 1e-6).grad_fn_name(), "group_norm");
}

TEST(CudaGroupNorm, MatchesTheCpuAndTheCompositeAtUNetShapes) {
  ONESTEP_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    int64_t groups;
    bool silu;
  };
  const Case cases[] = {
      {{8, 64, 16, 16}, 32, true},  // a UNet block's norm0 + SiLU
      {{8, 64, 16, 16}, 16, false},
      {{2, 32, 40, 40}, 4, true},  // channels longer than a block
      {{3, 8, 1, 1}, 4, true},     // [N, C, 1, 1]: two elements per group
  };
  for (const Case& c : cases)
    for (DType dtype : {DType::f64, DType::f32}) {
      SCOPED_TRACE(fmt::format("{} groups {} silu {} {}", shape_str(c.shape), c.groups, c.silu,
                               dtype_name(dtype)));
      const double tol = dtype == DType::f64 ? 1e-10 : 2e-5;
      const std::array<bool, 3> all = {true, true, true};
      const NormRun device = run(c.shape, c.groups, c.silu, true, gpu(), dtype, all);
      expect_match(device, run(c.shape, c.groups, c.silu, true, Device::cpu(), dtype, all), tol);
      expect_match(device, run(c.shape, c.groups, c.silu, false, gpu(), dtype, all), tol);
    }
}

TEST(CudaGroupNorm, GradientsForOnlySomeInputs) {
  ONESTEP_REQUIRE_CUDA();
  const std::array<bool, 3> subsets[] = {
      {true, false, false}, {false, true, false}, {false, false, true}, {false, true, true}};
  for (const auto& wants : subsets)
    for (bool silu : {false, true}) {
      SCOPED_TRACE(fmt::format("x {} w {} b {} silu {}", wants[0], wants[1], wants[2], silu));
      const Shape shape = {4, 12, 5, 5};
      expect_match(run(shape, 3, silu, true, gpu(), DType::f64, wants),
                   run(shape, 3, silu, true, Device::cpu(), DType::f64, wants), 1e-10);
    }
}

TEST(CudaGroupNorm, IsDeterministic) {
  ONESTEP_REQUIRE_CUDA();
  const std::array<bool, 3> all = {true, true, true};
  const NormRun first = run({16, 32, 8, 8}, 8, true, true, gpu(), DType::f32, all);
  const NormRun second = run({16, 32, 8, 8}, 8, true, true, gpu(), DType::f32, all);
  expect_match(first, second, 0.0);
}

}  // namespace
}  // namespace onestep
