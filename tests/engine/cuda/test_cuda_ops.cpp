// Every differentiable op, forward and backward on CUDA, against the CPU in f64: every row of
// the op table (testing/op_cases.h) that the CPU gradient checks run, and its large rows, which
// take the kernels' multi-block paths. Each row runs in f64 and f32, with contiguous, strided and
// permuted inputs on the device; the cotangent is random and non-uniform so that errors cannot
// cancel. Memory is poisoned (ONESTEP_CUDA_POISON=1), so an output element no kernel writes is NaN.
//
// Tolerances (|actual - expected| <= tol * (1 + max |expected|), per output and per gradient):
//   f64: 1e-10 (different summation orders and 1-2 ulp device math, through a few ops);
//   f32: 5e-5 against the f64 reference (the CPU's f32 forward meets 2e-5; the device's f32
//        math functions are up to 4 ulp, and gradients take a few ops more).
// Dropout compares with the CPU in the same precision, since f32 and f64 masks come from
// different Philox lanes.

#include "cuda_test_util.h"
#include "testing/gradcheck.h"
#include "testing/op_cases.h"

namespace onestep {
namespace {

using cuda_testing::compare;
using cuda_testing::gpu;
using testing::Layout;
using testing::OpCase;
using Inputs = std::vector<Tensor>;

struct OpRun {
  Tensor out;
  std::vector<Tensor> grads;  // of the inputs that require grad, in order
};

// Runs f on copies of `inputs` converted to dtype, moved to `device` and laid out as asked;
// backward with the cotangent. Non-floating inputs (conditions, indices) keep their dtype.
OpRun run(const OpCase& c, const Inputs& inputs, DType dtype, Device device, Layout layout,
          const Tensor& cotangent) {
  Inputs moved;
  for (const Tensor& t : inputs) {
    Tensor m;
    {
      NoGradGuard no_grad;
      m = t.detach();
      if (is_floating(m.dtype())) m = m.to(dtype);
      m = testing::with_layout(m.to(device), layout);
    }
    if (t.requires_grad()) m.set_requires_grad(true);
    moved.push_back(m);
  }
  OpRun r;
  r.out = c.f(moved);
  r.out.backward(cotangent.to(r.out.dtype()).to(device));
  for (const Tensor& m : moved)
    if (m.requires_grad()) r.grads.push_back(m.grad());
  return r;
}

std::string check(const Tensor& actual, const Tensor& expected, double tol) {
  const double scale = 1.0 + (expected.numel() ? amax(abs(expected.to(DType::f64))).item() : 0.0);
  return compare(actual, expected, tol * scale, 0.0);
}

class CudaOpTable : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaOpTable, ForwardAndBackwardMatchTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  const OpCase& c = GetParam();
  const Inputs inputs = c.fixed_inputs();
  Rng cot_gen(7);
  const Tensor cotangent = randn(c.forward_without_grad(inputs).shape(), cot_gen, DType::f64);
  const OpRun reference64 =
      run(c, inputs, DType::f64, Device::cpu(), Layout::contiguous, cotangent);
  for (DType dtype : {DType::f64, DType::f32}) {
    const bool same = c.same_precision_reference || dtype == DType::f64;
    const OpRun reference =
        same ? run(c, inputs, dtype, Device::cpu(), Layout::contiguous, cotangent) : reference64;
    const double tol = dtype == DType::f64 ? 1e-10 : same ? 1e-6 : 5e-5;
    for (Layout layout : {Layout::contiguous, Layout::strided, Layout::permuted}) {
      SCOPED_TRACE(fmt::format("{} layout {}", dtype_name(dtype), static_cast<int>(layout)));
      const OpRun actual = run(c, inputs, dtype, gpu(), layout, cotangent);
      ASSERT_EQ(actual.out.device(), gpu());
      EXPECT_EQ(check(actual.out, reference.out, tol), "") << "forward";
      ASSERT_EQ(actual.grads.size(), reference.grads.size());
      for (size_t i = 0; i < actual.grads.size(); ++i) {
        ASSERT_TRUE(actual.grads[i].defined()) << "input " << i;
        EXPECT_EQ(actual.grads[i].device(), gpu());
        EXPECT_EQ(check(actual.grads[i], reference.grads[i], tol), "") << "gradient " << i;
      }
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  return testing::op_case_name(info.param, info.index);
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaOpTable, ::testing::ValuesIn(testing::op_cases()), case_name);

}  // namespace
}  // namespace onestep
