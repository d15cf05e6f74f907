// Every differentiable op, forward and backward on CUDA, against the CPU in f64: the rows of the
// gradient-check table (tests/engine/test_gradcheck_table.cpp) plus larger shapes that take the
// kernels' multi-block paths. Each row runs in f64 and f32, with contiguous, strided and permuted
// inputs on the device; the cotangent is random and non-uniform so that errors cannot cancel.
// Memory is poisoned (ONESTEP_CUDA_POISON=1), so an output element no kernel writes is NaN.
//
// Tolerances (|actual - expected| <= tol * (1 + max |expected|), per output and per gradient):
//   f64: 1e-10 (different summation orders and 1-2 ulp device math, through a few ops);
//   f32: 5e-5 against the f64 reference (the CPU's f32 forward meets 2e-5; the device's f32
//        math functions are up to 4 ulp, and gradients take a few ops more).
// Dropout compares with the CPU in the same precision, since f32 and f64 masks come from
// different Philox lanes.

#include <set>

#include "cuda_test_util.h"
#include "testing/gradcheck.h"

namespace onestep {
namespace {

using cuda_testing::compare;
using cuda_testing::gpu;
using testing::Layout;
using Inputs = std::vector<Tensor>;
using OpFunction = std::function<Tensor(const Inputs&)>;

struct OpCase {
  std::string op;  // name in differentiable_ops()
  std::string variant;
  std::function<Inputs(Generator&)> make_inputs;  // CPU f64; parameters require grad
  OpFunction f;
  bool same_precision_reference = false;
};

Tensor param(Tensor t) {
  return t.set_requires_grad(true);
}
Tensor normal(const Shape& s, Generator& g) {
  return param(randn(s, g, DType::f64));
}
Tensor positive(const Shape& s, Generator& g) {  // [0.5, 2]
  return param(rand(s, g, DType::f64) * 1.5 + 0.5);
}

std::vector<OpCase> op_cases() {
  std::vector<OpCase> c;
  auto unary = [&](const std::string& op, bool positive_input, auto fn, Shape shape = {3, 4}) {
    c.push_back({op, shape_str(shape),
                 [positive_input, shape](Generator& g) {
                   return Inputs{positive_input ? positive(shape, g) : normal(shape, g)};
                 },
                 [fn](const Inputs& in) { return fn(in[0]); }});
  };
  auto binary = [&](const std::string& op, const std::string& variant, Shape sa, Shape sb,
                    bool positive_b, auto fn) {
    c.push_back({op, variant,
                 [sa, sb, positive_b](Generator& g) {
                   return Inputs{normal(sa, g), positive_b ? positive(sb, g) : normal(sb, g)};
                 },
                 [fn](const Inputs& in) { return fn(in[0], in[1]); }});
  };
  auto single = [&](const std::string& op, const std::string& variant, Shape shape, auto fn) {
    c.push_back({op, variant, [shape](Generator& g) { return Inputs{normal(shape, g)}; },
                 [fn](const Inputs& in) { return fn(in[0]); }});
  };

  // --- elementwise
  binary("add", "same shape", {3, 4}, {3, 4}, false, [](auto a, auto b) { return a + b; });
  binary("add", "broadcast [2,3,4]+[4]", {2, 3, 4}, {4}, false,
         [](auto a, auto b) { return a + b; });
  binary("add", "broadcast [3,1]+[1,4]", {3, 1}, {1, 4}, false,
         [](auto a, auto b) { return a + b; });
  binary("sub", "broadcast [3,4]-[3,1]", {3, 4}, {3, 1}, false,
         [](auto a, auto b) { return a - b; });
  binary("mul", "broadcast [2,3,4]*[3,1]", {2, 3, 4}, {3, 1}, false,
         [](auto a, auto b) { return a * b; });
  binary("mul", "large broadcast [64,33,17]*[33,1]", {64, 33, 17}, {33, 1}, false,
         [](auto a, auto b) { return a * b; });
  binary("div", "broadcast [3,4]/[4]", {3, 4}, {4}, true, [](auto a, auto b) { return a / b; });
  binary("minimum", "broadcast [3,4],[4]", {3, 4}, {4}, false,
         [](auto a, auto b) { return minimum(a, b); });
  binary("maximum", "broadcast [3,4],[3,1]", {3, 4}, {3, 1}, false,
         [](auto a, auto b) { return maximum(a, b); });
  unary("neg", false, [](const Tensor& x) { return -x; });
  unary("affine", false, [](const Tensor& x) { return 3.0 - x / 4.0; });
  unary("pow", true, [](const Tensor& x) { return pow(x, 1.7); });
  unary("pow", false, [](const Tensor& x) { return pow(x, 3.0); });
  unary("square", false, [](const Tensor& x) { return square(x); });
  unary("reciprocal", true, [](const Tensor& x) { return reciprocal(x); });
  unary("exp", false, [](const Tensor& x) { return exp(x); });
  unary("log", true, [](const Tensor& x) { return log(x); });
  unary("sin", false, [](const Tensor& x) { return sin(x * 3.0); });
  unary("cos", false, [](const Tensor& x) { return cos(x * 3.0); });
  unary("sqrt", true, [](const Tensor& x) { return sqrt(x); });
  unary("rsqrt", true, [](const Tensor& x) { return rsqrt(x); });
  unary("abs", false, [](const Tensor& x) { return abs(x); });
  unary("clamp", false, [](const Tensor& x) { return clamp(x, -0.5, 0.7); });
  unary("sigmoid", false, [](const Tensor& x) { return sigmoid(x * 4.0); });
  unary("softplus", false, [](const Tensor& x) { return softplus(x * 30.0); });  // both tails
  unary("tanh", false, [](const Tensor& x) { return tanh(x); });
  unary("silu", false, [](const Tensor& x) { return silu(x * 3.0); }, {257, 129});
  unary("relu", false, [](const Tensor& x) { return relu(x); });
  c.push_back(
      {"where", "broadcast cond [3,4], a [3,4], b [4]",
       [](Generator& g) {
         return Inputs{gt(randn({3, 4}, g, DType::f64), 0.0), normal({3, 4}, g), normal({4}, g)};
       },
       [](const Inputs& in) { return where(in[0], in[1], in[2]); }});

  // --- reductions
  unary("sum", false, [](const Tensor& x) { return sum(x); });
  single("sum", "dims {0,2} keepdim", {2, 3, 4}, [](auto x) { return sum(x, {0, 2}, true); });
  single("sum", "large dims {0,2,3}", {16, 8, 20, 20}, [](auto x) { return sum(x, {0, 2, 3}); });
  single("mean", "dim 1", {2, 3, 4}, [](auto x) { return mean(x, {1}); });
  single("mean", "large, all", {300001}, [](auto x) { return mean(x); });
  single("amax", "dim 1", {3, 5}, [](auto x) { return amax(x, {1}); });
  single("amin", "all", {3, 5}, [](auto x) { return amin(x); });
  single("amax", "large dim 0", {5000, 3}, [](auto x) { return amax(x, {0}); });
  single("var", "dim 1 unbiased", {3, 5}, [](auto x) { return var(x, {1}); });
  single("var", "dims {0,2} population", {2, 3, 4}, [](auto x) { return var(x, {0, 2}, 0, true); });
  single("sum_to", "[2,3,4] -> [3,1]", {2, 3, 4}, [](auto x) { return sum_to(x, {3, 1}); });

  // --- linear algebra and convolution
  binary("matmul", "[3,4]@[4,5]", {3, 4}, {4, 5}, false,
         [](auto a, auto b) { return matmul(a, b); });
  binary("matmul", "broadcast [2,1,3,4]@[3,4,2]", {2, 1, 3, 4}, {3, 4, 2}, false,
         [](auto a, auto b) { return matmul(a, b); });
  binary("matmul", "shared weight [2,3,4]@[4,5]", {2, 3, 4}, {4, 5}, false,
         [](auto a, auto b) { return matmul(a, b); });
  binary("matmul", "large batched [4,65,97]@[4,97,33]", {4, 65, 97}, {4, 97, 33}, false,
         [](auto a, auto b) { return matmul(a, b); });
  c.push_back({"linear", "x [5,4], bias",
               [](Generator& g) {
                 return Inputs{normal({5, 4}, g), normal({3, 4}, g), normal({3}, g)};
               },
               [](const Inputs& in) { return linear(in[0], in[1], in[2]); }});
  c.push_back({"linear", "x [2,3,4], no bias",
               [](Generator& g) {
                 return Inputs{normal({2, 3, 4}, g), normal({3, 4}, g)};
               },
               [](const Inputs& in) { return linear(in[0], in[1]); }});
  auto conv = [&](const std::string& variant, Shape x, Shape w, bool bias, int64_t stride,
                  int64_t pad) {
    c.push_back({"conv2d", variant,
                 [=](Generator& g) {
                   Inputs in{normal(x, g), normal(w, g)};
                   if (bias) in.push_back(normal({w[0]}, g));
                   return in;
                 },
                 [=](const Inputs& in) {
                   return conv2d(in[0], in[1], bias ? in[2] : Tensor(), stride, pad);
                 }});
  };
  conv("3x3 stride 1 pad 1, bias", {2, 3, 5, 5}, {4, 3, 3, 3}, true, 1, 1);
  conv("3x3 stride 2 pad 0", {2, 2, 6, 7}, {3, 2, 3, 3}, false, 2, 0);
  conv("1x1 with bias", {2, 3, 4, 4}, {5, 3, 1, 1}, true, 1, 0);
  conv("2x3 kernel stride 2 pad 2", {1, 2, 5, 4}, {2, 2, 2, 3}, false, 2, 2);
  conv("large 3x3 pad 1, bias", {6, 16, 20, 20}, {24, 16, 3, 3}, true, 1, 1);
  single("avg_pool2d", "[2,3,4,6]", {2, 3, 4, 6}, [](auto x) { return avg_pool2d(x); });
  single("upsample_nearest2d", "[2,2,3,2]", {2, 2, 3, 2},
         [](auto x) { return upsample_nearest2d(x); });

  // --- normalisation and softmax
  c.push_back({"group_norm", "affine, 2 groups",
               [](Generator& g) {
                 return Inputs{normal({2, 4, 3, 3}, g), normal({4}, g), normal({4}, g)};
               },
               [](const Inputs& in) { return group_norm(in[0], 2, in[1], in[2], 1e-6); }});
  c.push_back({"group_norm", "large, affine, 8 groups",
               [](Generator& g) {
                 return Inputs{normal({8, 32, 16, 16}, g), normal({32}, g), normal({32}, g)};
               },
               [](const Inputs& in) { return group_norm(in[0], 8, in[1], in[2], 1e-6); }});
  // Both backends run their fused kernels: rows small and large (blocks wider than a channel,
  // several passes per thread), without affine parameters, and [N, C] (one element a channel).
  c.push_back({"group_norm", "no affine, 1 group",
               [](Generator& g) { return Inputs{normal({3, 6, 2, 5}, g)}; },
               [](const Inputs& in) { return group_norm(in[0], 1, Tensor(), Tensor(), 1e-5); }});
  c.push_back({"group_norm", "[N, C], 2 groups",
               [](Generator& g) {
                 return Inputs{normal({5, 8}, g), normal({8}, g), normal({8}, g)};
               },
               [](const Inputs& in) { return group_norm(in[0], 2, in[1], in[2], 1e-6); }});
  c.push_back({"group_norm_silu", "large, affine, 8 groups",
               [](Generator& g) {
                 return Inputs{normal({4, 32, 24, 24}, g), normal({32}, g), normal({32}, g)};
               },
               [](const Inputs& in) { return group_norm_silu(in[0], 8, in[1], in[2], 1e-6); }});
  c.push_back({"group_norm_silu", "affine, 4 groups",
               [](Generator& g) {
                 return Inputs{normal({4, 8, 5, 5}, g), normal({8}, g), normal({8}, g)};
               },
               [](const Inputs& in) { return group_norm_silu(in[0], 4, in[1], in[2], 1e-5); }});
  single("softmax", "dim 1", {3, 5}, [](auto x) { return softmax(x * 3.0, 1); });
  single("softmax", "large dim 1", {64, 1000}, [](auto x) { return softmax(x * 3.0, 1); });
  single("log_softmax", "dim 0", {4, 3}, [](auto x) { return log_softmax(x * 3.0, 0); });

  // --- shape
  binary("concat", "dim 1", {2, 3}, {2, 2}, false, [](auto a, auto b) {
    return concat({a, b}, 1);
  });
  binary("stack", "dim 1", {2, 3}, {2, 3}, false, [](auto a, auto b) { return stack({a, b}, 1); });
  single("split", "sizes {2,3} dim 0", {5, 3}, [](auto x) {
    const auto pieces = split(x, {2, 3}, 0);
    return sum(pieces[0] * 2.0) + sum(pieces[1] * pieces[1]);
  });
  single("reshape", "[2,3,4] -> [4,-1]", {2, 3, 4}, [](auto x) {
    return x.reshape({4, -1}) * 1.0;
  });
  single("permute", "{2,0,1}", {2, 3, 4}, [](auto x) { return x.permute({2, 0, 1}) * 1.0; });
  single("transpose", "0,2", {2, 3, 4}, [](auto x) { return x.transpose(0, 2) * 1.0; });
  single("slice", "dim 1, -4 to 5 step 2", {2, 6, 3},
         [](auto x) { return x.slice(1, -4, 5, 2) * 1.0; });
  single("select", "dim 1 index -1", {2, 3, 4}, [](auto x) { return x.select(1, -1) * 1.0; });
  single("expand", "[3,1] -> [2,3,4]", {3, 1}, [](auto x) { return x.expand({2, 3, 4}) * 1.0; });
  single("unsqueeze", "dim -1", {2, 3}, [](auto x) { return x.unsqueeze(-1) * 1.0; });
  single("squeeze", "dim 1", {2, 1, 3}, [](auto x) { return x.squeeze(1) * 1.0; });
  single("flatten", "dims 1..2", {2, 3, 4}, [](auto x) { return x.flatten(1) * 1.0; });
  single("index_select", "dim 0 with a repeated index", {5, 3}, [](auto x) {
    return index_select(x, 0, from_vector<int64_t>({4, 0, 4, 2}, {4}).to(x.device()));
  });
  single("index_select", "dim 1", {2, 4, 3}, [](auto x) {
    return index_select(x, 1, from_vector<int64_t>({3, 1}, {2}).to(x.device()));
  });
  single("contiguous", "of a transposed view", {3, 4},
         [](auto x) { return x.transpose(0, 1).contiguous(); });
  single("clone", "[3,4]", {3, 4}, [](auto x) { return x.clone(); });
  single("to_dtype", "-> f32 -> f64", {3, 4},
         [](auto x) { return x.to(DType::f32).to(DType::f64) * 3.0; });

  // --- stochastic and losses
  OpCase drop{"dropout", "p 0.3, fixed seed",
              [](Generator& g) {
                return Inputs{normal({40, 50}, g)};
              },
              [](const Inputs& in) {
                Generator mask_gen(7);  // the same mask on every evaluation and device
                return dropout(in[0], 0.3, true, mask_gen);
              }};
  drop.same_precision_reference = true;
  c.push_back(drop);
  binary("mse_loss", "[3,4]", {3, 4}, {3, 4}, false, [](auto a, auto b) { return mse_loss(a, b); });
  c.push_back({"bce_with_logits", "targets in [0,1]",
               [](Generator& g) {
                 return Inputs{normal({3, 4}, g), param(rand({3, 4}, g, DType::f64))};
               },
               [](const Inputs& in) { return bce_with_logits(in[0] * 4.0, in[1]); }});
  return c;
}

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
  Generator gen(42);
  const Inputs inputs = c.make_inputs(gen);
  Tensor cotangent;
  {
    NoGradGuard no_grad;
    Generator cot_gen(7);
    const Tensor probe = c.f(inputs);
    cotangent = randn(probe.shape(), cot_gen, DType::f64);
  }
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
  std::string name = info.param.op + "_" + std::to_string(info.index);
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaOpTable, ::testing::ValuesIn(op_cases()), case_name);

// Runs without a device too: the table must keep up with the engine's op list.
TEST(CudaOpTableRegistry, EveryDifferentiableOpHasACudaRow) {
  std::set<std::string> covered;
  for (const OpCase& c : op_cases()) covered.insert(c.op);
  for (const std::string& op : differentiable_ops())
    EXPECT_TRUE(covered.count(op)) << "op '" << op << "' has no CUDA row";
}

}  // namespace
}  // namespace onestep
