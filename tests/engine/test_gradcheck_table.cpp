// The op table (testing/op_cases.h) on the CPU: every differentiable op is checked forward
// against its f32 kernel, backward against central differences in f64, and with non-contiguous
// inputs.

#include <gtest/gtest.h>

#include <set>

#include "testing/expect_error.h"
#include "testing/gradcheck.h"
#include "testing/op_cases.h"

namespace onestep {
namespace {

using testing::gradcheck;
using testing::Layout;
using testing::OpCase;
using testing::OpFunction;
using Inputs = std::vector<Tensor>;

// The rows small enough for finite differences.
std::vector<OpCase> gradcheck_cases() {
  std::vector<OpCase> out;
  for (const OpCase& c : testing::op_cases())
    if (!c.large) out.push_back(c);
  return out;
}

class GradcheckTable : public ::testing::TestWithParam<OpCase> {};

Inputs relayout(const Inputs& inputs, Layout layout) {
  Inputs out;
  for (const Tensor& t : inputs) {
    Tensor r = testing::with_layout(t, layout);
    if (t.requires_grad()) r.set_requires_grad(true);
    out.push_back(r);
  }
  return out;
}

#define SKIP_WITHOUT_SECOND_DEVICE(op)                \
  if ((op).needs_second_device && !cuda::available()) \
  GTEST_SKIP() << (op).op                             \
               << " needs a CUDA device (or the emulation build): " << cuda::unavailable_reason()

TEST_P(GradcheckTable, BackwardMatchesFiniteDifferences) {
  const OpCase& op = GetParam();
  SKIP_WITHOUT_SECOND_DEVICE(op);
  const Inputs inputs = op.fixed_inputs();
  EXPECT_EQ(gradcheck(op.f, inputs, op.options), "");
}

TEST_P(GradcheckTable, NonContiguousInputsGiveTheSameValuesAndGradients) {
  const OpCase& op = GetParam();
  SKIP_WITHOUT_SECOND_DEVICE(op);
  const Inputs inputs = op.fixed_inputs();
  const Tensor reference = op.forward_without_grad(inputs);
  for (Layout layout : {Layout::strided, Layout::permuted}) {
    const Inputs views = relayout(inputs, layout);
    for (size_t i = 0; i < views.size(); ++i) {
      int64_t non_trivial_dims = 0;
      for (int64_t s : views[i].shape()) non_trivial_dims += s > 1;
      // Reversing the storage order of a tensor with one real dim leaves it contiguous.
      if (layout == Layout::strided || non_trivial_dims > 1) {
        EXPECT_FALSE(views[i].is_contiguous()) << "input " << i;
      }
    }
    const Tensor out = op.forward_without_grad(views);
    ASSERT_EQ(out.shape(), reference.shape());
    EXPECT_LE(testing::max_abs_diff(out, reference), 1e-12)
        << "layout " << static_cast<int>(layout);
    EXPECT_EQ(gradcheck(op.f, views, op.options), "") << "layout " << static_cast<int>(layout);
  }
}

// Rows whose f32 forward is comparable with the f64 one (not dropout: the precisions draw from
// different Philox lanes; not to_dtype: its output is f64 whatever the input).
std::vector<OpCase> f32_cases() {
  std::vector<OpCase> out;
  for (const OpCase& c : gradcheck_cases())
    if (c.f32_comparable) out.push_back(c);
  return out;
}

class Float32Table : public ::testing::TestWithParam<OpCase> {};

TEST_P(Float32Table, ForwardMatchesFloat64) {
  const OpCase& op = GetParam();
  SKIP_WITHOUT_SECOND_DEVICE(op);
  const Inputs inputs = op.fixed_inputs();
  NoGradGuard no_grad;
  Inputs single;
  for (const Tensor& t : inputs) single.push_back(is_floating(t.dtype()) ? t.to(DType::f32) : t);
  const Tensor expected = op.f(inputs);
  const Tensor actual = op.f(single);
  ASSERT_EQ(actual.dtype(), DType::f32);
  const double scale = 1.0 + amax(abs(expected)).item();
  EXPECT_LE(testing::max_abs_diff(actual, expected), 2e-5 * scale);
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  return testing::op_case_name(info.param, info.index);
}

INSTANTIATE_TEST_SUITE_P(Ops, GradcheckTable, ::testing::ValuesIn(gradcheck_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Ops, Float32Table, ::testing::ValuesIn(f32_cases()), case_name);

TEST(GradcheckRegistry, EveryDifferentiableOpHasARow) {
  std::set<std::string> covered;
  for (const OpCase& c : gradcheck_cases()) covered.insert(c.op);
  for (const std::string& op : differentiable_ops())
    EXPECT_TRUE(covered.count(op)) << "op '" << op << "' has no gradient-check row";
  const std::set<std::string> registered(differentiable_ops().begin(), differentiable_ops().end());
  for (const std::string& op : covered)
    EXPECT_TRUE(registered.count(op)) << "row for '" << op << "' names an unregistered op";
}

// record() refuses a backward under a name nobody registered: an op cannot slip into the engine
// without its entry in differentiable_ops(), and so without a row above.
TEST(GradcheckRegistry, RecordingAnUnregisteredOpIsAnError) {
  const Tensor x = ones({2}).set_requires_grad(true);
  const auto record_as = [&](const char* name) {
    Tensor y = x.detach() * 2.0;
    autograd::record(name, {x}, y, [](const Tensor& g) { return std::vector<Tensor>{g * 2.0}; });
    return y;
  };
  testing::expect_error([&] { record_as("doubled_unregistered"); },
                        {"'doubled_unregistered' records a backward but is not a registered "
                         "differentiable op"});
  EXPECT_FALSE(is_registered_op("doubled_registered"));
  register_differentiable_op("doubled_registered");
  EXPECT_TRUE(is_registered_op("doubled_registered"));
  EXPECT_EQ(sum(record_as("doubled_registered")).item(), 4.0);
  EXPECT_TRUE(is_registered_op("to_device"));
}

TEST(GradcheckHarness, CatchesAWrongGradient) {
  // A deliberately wrong backward (d/dx x^2 reported as x) must fail the check.
  register_differentiable_op("wrong_square");
  Rng gen(3);
  const Tensor x = randn({4}, gen, DType::f64).set_requires_grad(true);
  const OpFunction wrong = [](const Inputs& in) {
    Tensor y = in[0].detach() * in[0].detach();
    autograd::record("wrong_square", {in[0]}, y,
                     [x = autograd::SavedTensor(in[0])](const Tensor& g) {
                       return std::vector<Tensor>{g * x.get()};
                     });
    return y;
  };
  EXPECT_NE(gradcheck(wrong, {x}), "");
}

}  // namespace
}  // namespace onestep
