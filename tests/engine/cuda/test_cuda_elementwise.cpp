// The CUDA backend's elementwise methods (unary, binary, where, copy, fill, arange) called
// directly, against the CPU backend on the same inputs. Inputs include zeros, huge values,
// infinities and NaN; CPU references are computed on strided views, which take the CPU's scalar
// loops (the formulas the CUDA kernels mirror) rather than Eigen's vectorised ones. Outputs start
// poisoned (NaN or a sentinel) so that an element a kernel skips is caught.

#include <cmath>

#include "../../../engine/src/backend.h"
#include "cuda_test_util.h"

namespace onestep {
namespace {

using backend::BinaryOp;
using backend::UnaryOp;
using cuda_testing::compare;
using cuda_testing::compare_exact;
using cuda_testing::gpu;
using cuda_testing::poisoned;

// Tolerances of transcendental functions: CUDA's documented maximum errors are 1-4 ulp
// (powf 4), and the host libm's are about 1 ulp.
constexpr double kF32Rtol = 4e-6, kF32Atol = 1e-6;
constexpr double kF64Rtol = 1e-13, kF64Atol = 1e-14;

struct UnaryCase {
  UnaryOp op;
  const char* name;
  double p0 = 0, p1 = 0;
  bool exact = false;  // no rounding involved (or correctly rounded on both sides)
};

std::vector<UnaryCase> unary_cases() {
  return {{UnaryOp::affine, "affine", 1.7, -0.3},
          {UnaryOp::pow, "pow 2", 2.0, 0, true},
          {UnaryOp::pow, "pow 0.5", 0.5, 0, true},
          {UnaryOp::pow, "pow -1", -1.0, 0, true},
          {UnaryOp::pow, "pow 1.7", 1.7},
          {UnaryOp::pow, "pow 3", 3.0},
          {UnaryOp::clamp, "clamp", -0.5, 0.7, true},
          {UnaryOp::exp, "exp"},
          {UnaryOp::log, "log"},
          {UnaryOp::sin, "sin"},
          {UnaryOp::cos, "cos"},
          {UnaryOp::sqrt, "sqrt", 0, 0, true},
          {UnaryOp::rsqrt, "rsqrt", 0, 0, true},
          {UnaryOp::abs, "abs", 0, 0, true},
          {UnaryOp::sign, "sign", 0, 0, true},
          {UnaryOp::sigmoid, "sigmoid"},
          {UnaryOp::softplus, "softplus"},
          {UnaryOp::tanh, "tanh"},
          {UnaryOp::silu, "silu"},
          {UnaryOp::relu, "relu", 0, 0, true},
          {UnaryOp::reciprocal, "reciprocal", 0, 0, true},
          {UnaryOp::isfinite, "isfinite", 0, 0, true},
          {UnaryOp::gt_scalar, "gt_scalar", 0.5, 0, true},
          {UnaryOp::lt_scalar, "lt_scalar", 0.5, 0, true},
          {UnaryOp::ge_scalar, "ge_scalar", 0.5, 0, true},
          {UnaryOp::le_scalar, "le_scalar", 0.5, 0, true},
          {UnaryOp::eq_scalar, "eq_scalar", 1.0, 0, true}};
}

// A [8, 8] CPU tensor of special and random values, stored transposed (non-contiguous).
Tensor transposed_values(DType dtype, Rng& gen) {
  const Tensor flat = cuda_testing::special_values(64 - 21, dtype, gen);
  return flat.reshape({8, 8}).contiguous().transpose(0, 1);
}

TEST(CudaElementwise, EveryUnaryOpMatchesTheCpuOnSpecialAndRandomValues) {
  ONESTEP_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    Rng gen(11);
    const Tensor x = transposed_values(dtype, gen);  // CPU, strided
    for (const UnaryCase& c : unary_cases()) {
      SCOPED_TRACE(fmt::format("{} {}", c.name, dtype_name(dtype)));
      const Tensor expected = empty(x.shape(), dtype);
      backend::cpu().unary(c.op, x, expected, c.p0, c.p1);
      // The same values on the device, transposed and contiguous, into contiguous and strided
      // outputs.
      const Tensor xg = x.to(gpu());  // contiguous copy of the transposed values
      const Tensor xg_t = x.transpose(0, 1).contiguous().to(gpu()).transpose(0, 1);
      const Tensor out = poisoned(x.shape(), dtype);
      const Tensor out_big = poisoned({8, 16}, dtype);
      const Tensor out_strided = out_big.slice(1, 0, 16, 2);
      backend::cuda(0).unary(c.op, xg_t, out, c.p0, c.p1);
      backend::cuda(0).unary(c.op, xg, out_strided, c.p0, c.p1);
      const double rtol = c.exact ? 0 : dtype == DType::f32 ? kF32Rtol : kF64Rtol;
      const double atol = c.exact ? 0 : dtype == DType::f32 ? kF32Atol : kF64Atol;
      EXPECT_EQ(compare(out, expected, atol, rtol), "");
      EXPECT_EQ(compare(out_strided, expected, atol, rtol), "");
      // The other half of the strided output's buffer was not touched.
      EXPECT_EQ(compare_exact(out_big.slice(1, 1, 16, 2), full({8, 8}, std::nan(""), dtype)), "");
    }
  }
}

TEST(CudaElementwise, IntegerUnaryOpsMatchTheCpuAndRejectTheSameOps) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(12);
  const Tensor x = randint(-50, 50, {8, 8}, gen).transpose(0, 1);
  const Tensor xg = x.to(gpu());
  const std::vector<UnaryCase> cases = {{UnaryOp::affine, "affine", 3, -2},
                                        {UnaryOp::abs, "abs"},
                                        {UnaryOp::sign, "sign"},
                                        {UnaryOp::clamp, "clamp", -10, 20},
                                        {UnaryOp::gt_scalar, "gt", 0.5},
                                        {UnaryOp::lt_scalar, "lt", -7},
                                        {UnaryOp::ge_scalar, "ge", 7},
                                        {UnaryOp::le_scalar, "le", 7.5},
                                        {UnaryOp::eq_scalar, "eq", 7}};
  for (const UnaryCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor expected = empty(x.shape(), DType::i64);
    backend::cpu().unary(c.op, x, expected, c.p0, c.p1);
    const Tensor out = poisoned(x.shape(), DType::i64);
    backend::cuda(0).unary(c.op, xg, out, c.p0, c.p1);
    EXPECT_EQ(compare_exact(out, expected), "");
  }
  const Tensor out = poisoned(x.shape(), DType::i64);
  EXPECT_THROW(backend::cuda(0).unary(UnaryOp::affine, xg, out, 1.5, 0), Error);
  EXPECT_THROW(backend::cuda(0).unary(UnaryOp::exp, xg, out, 0, 0), Error);
  EXPECT_THROW(backend::cpu().unary(UnaryOp::exp, x, empty(x.shape(), DType::i64), 0, 0), Error);
}

const std::vector<std::pair<BinaryOp, const char*>>& binary_ops() {
  static const std::vector<std::pair<BinaryOp, const char*>> ops = {{BinaryOp::add, "add"},
                                                                    {BinaryOp::sub, "sub"},
                                                                    {BinaryOp::mul, "mul"},
                                                                    {BinaryOp::div, "div"},
                                                                    {BinaryOp::minimum, "minimum"},
                                                                    {BinaryOp::maximum, "maximum"},
                                                                    {BinaryOp::gt, "gt"},
                                                                    {BinaryOp::lt, "lt"},
                                                                    {BinaryOp::ge, "ge"},
                                                                    {BinaryOp::le, "le"},
                                                                    {BinaryOp::eq, "eq"}};
  return ops;
}

// Single IEEE operations are correctly rounded on both devices: every binary op is exact.
TEST(CudaElementwise, EveryBinaryOpMatchesTheCpuExactlyWithBroadcastAndTransposedOperands) {
  ONESTEP_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
    Rng gen(13);
    // a: [8, 8] stored transposed; b: [8] broadcast along dim 0 (stride 0), and [8, 1] along 1.
    const Tensor a = dtype == DType::i64 ? randint(-9, 9, {8, 8}, gen).transpose(0, 1)
                                         : transposed_values(dtype, gen);
    const Tensor b_row = dtype == DType::i64 ? randint(-9, 9, {8}, gen)
                                             : (randn({8}, gen, DType::f64) * 2.0).to(dtype);
    const Tensor b_col = a.select(1, 3).reshape({8, 1}).contiguous();  // shares a's values
    for (const auto& [op, name] : binary_ops()) {
      for (const Tensor& b_source : {b_row, b_col}) {
        const Tensor b = b_source.expand({8, 8});
        SCOPED_TRACE(fmt::format("{} {} b strides {}", name, dtype_name(dtype), b.strides()));
        const Tensor ag = a.transpose(0, 1).contiguous().to(gpu()).transpose(0, 1);
        const Tensor bg = b_source.to(gpu()).expand({8, 8});
        const Tensor out = poisoned({8, 8}, dtype);
        if (op == BinaryOp::div && dtype == DType::i64) {
          EXPECT_THROW(backend::cuda(0).binary(op, ag, bg, out), Error);
          continue;
        }
        const Tensor expected = empty({8, 8}, dtype);
        backend::cpu().binary(op, a, b, expected);
        backend::cuda(0).binary(op, ag, bg, out);
        EXPECT_EQ(compare_exact(out, expected), "");
      }
    }
  }
}

TEST(CudaElementwise, InPlaceBinaryOnAStridedViewLeavesTheRestAlone) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(14);
  const Tensor base = randn({6, 10}, gen);
  const Tensor other = randn({6, 5}, gen);
  const Tensor expected = base.clone();
  expected.slice(1, 0, 10, 2).add_(other);
  const Tensor g = base.to(gpu());
  g.slice(1, 0, 10, 2).add_(other.to(gpu()));
  EXPECT_EQ(compare_exact(g, expected), "");
}

TEST(CudaElementwise, WhereMatchesTheCpuForEveryConditionDtype) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(15);
  for (DType value_dtype : {DType::f32, DType::f64, DType::i64}) {
    for (DType cond_dtype : {DType::f32, DType::f64, DType::i64}) {
      SCOPED_TRACE(
          fmt::format("values {} cond {}", dtype_name(value_dtype), dtype_name(cond_dtype)));
      // cond [5, 7] transposed storage, with a NaN (which counts as true), a: [5, 7], b: [7].
      Tensor cond = gt(randn({7, 5}, gen, DType::f64), 0.0).transpose(0, 1).to(cond_dtype);
      if (is_floating(cond_dtype)) {
        cond = cond.contiguous();
        NoGradGuard no_grad;
        cond.select(0, 2).select(0, 3).fill_(std::nan(""));
      }
      const Tensor a = (randn({5, 7}, gen, DType::f64) * 10.0).to(value_dtype);
      const Tensor b = (randn({7}, gen, DType::f64) * 10.0).to(value_dtype);
      const Tensor expected = empty({5, 7}, value_dtype);
      backend::cpu().where(cond, a, b.expand({5, 7}), expected);
      const Tensor out = poisoned({5, 7}, value_dtype);
      backend::cuda(0).where(cond.to(gpu()), a.to(gpu()), b.to(gpu()).expand({5, 7}), out);
      EXPECT_EQ(compare_exact(out, expected), "");
    }
  }
}

TEST(CudaElementwise, CopyConvertsEveryDtypePairBetweenStridedViews) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(16);
  for (DType src_dtype : {DType::f32, DType::f64, DType::i64}) {
    for (DType dst_dtype : {DType::f32, DType::f64, DType::i64}) {
      SCOPED_TRACE(fmt::format("{} -> {}", dtype_name(src_dtype), dtype_name(dst_dtype)));
      // Integers up to 2^40 exercise rounding into f32; floats stay in i64 range.
      const Tensor src = src_dtype == DType::i64
                             ? randint(-(int64_t{1} << 40), int64_t{1} << 40, {7, 5}, gen)
                             : (randn({7, 5}, gen, DType::f64) * 1000.0).to(src_dtype);
      const Tensor src_t = src.transpose(0, 1);  // [5, 7], non-contiguous
      const Tensor expected = empty({5, 7}, dst_dtype);
      backend::cpu().copy(src_t, expected);
      const Tensor dst_big = poisoned({5, 14}, dst_dtype);
      const Tensor dst = dst_big.slice(1, 1, 14, 2);
      backend::cuda(0).copy(src.to(gpu()).transpose(0, 1), dst);
      EXPECT_EQ(compare_exact(dst, expected), "");
      const Tensor untouched = dst_big.slice(1, 0, 14, 2);
      EXPECT_EQ(compare_exact(untouched, cuda_testing::poisoned({5, 7}, dst_dtype, Device::cpu())),
                "");
    }
  }
  // Same dtype, both contiguous: the device-to-device memcpy path.
  const Tensor src = randn({1000}, gen);
  const Tensor dst = poisoned({1000}, DType::f32);
  backend::cuda(0).copy(src.to(gpu()), dst);
  EXPECT_EQ(compare_exact(dst, src), "");
}

TEST(CudaElementwise, FillWritesExactlyTheViewsElements) {
  ONESTEP_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
    const Tensor big = poisoned({6, 9}, dtype);
    backend::cuda(0).fill(big.slice(0, 1, 6, 2).slice(1, 0, 9, 3), 42.0);
    const Tensor expected = cuda_testing::poisoned({6, 9}, dtype, Device::cpu());
    backend::cpu().fill(expected.slice(0, 1, 6, 2).slice(1, 0, 9, 3), 42.0);
    EXPECT_EQ(compare_exact(big, expected), "") << dtype_name(dtype);
  }
}

TEST(CudaElementwise, ArangeMatchesTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  struct Case {
    DType dtype;
    double start, step;
  };
  // Exact: both backends compute fma(i, step, start) in double, rounded once, then convert.
  for (const Case& c :
       {Case{DType::f32, 0.1, 0.3}, Case{DType::f64, -2.5, 0.01}, Case{DType::i64, -5, 3}}) {
    const int64_t n = 100001;
    const Tensor expected = empty({n}, c.dtype);
    backend::cpu().arange(expected, c.start, c.step);
    const Tensor out = poisoned({n}, c.dtype);
    backend::cuda(0).arange(out, c.start, c.step);
    EXPECT_EQ(compare_exact(out, expected), "") << dtype_name(c.dtype);
  }
}

TEST(CudaElementwise, HostTransfersRoundTripEveryDtype) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(17);
  for (const Tensor& t : {randn({1000}, gen, DType::f32), randn({333}, gen, DType::f64),
                          randint(-1000, 1000, {77}, gen)}) {
    const Tensor back = t.to(gpu()).to(Device::cpu());
    EXPECT_EQ(compare_exact(back, t), "");
  }
  // A zero-element tensor moves without touching memory.
  EXPECT_EQ(empty({0, 3}).to(gpu()).to(Device::cpu()).numel(), 0);
}

}  // namespace
}  // namespace onestep
