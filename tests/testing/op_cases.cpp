// The rows of the op table (op_cases.h).

#include "testing/op_cases.h"

#include <cctype>

namespace onestep::testing {

namespace {

Tensor param(Tensor t) {
  return t.set_requires_grad(true);
}
Tensor normal(const Shape& s, Rng& g) {
  return param(randn(s, g, DType::f64));
}
// Values in [0.5, 2]: safe for log, sqrt, division, fractional powers.
Tensor positive(const Shape& s, Rng& g) {
  return param(rand(s, g, DType::f64) * 1.5 + 0.5);
}
Tensor constant(Tensor t) {
  return t;
}

}  // namespace

std::vector<OpCase> op_cases() {
  std::vector<OpCase> c;
  auto unary = [&](const std::string& op, bool positive_input, auto fn) {
    c.push_back({op, "[3,4]",
                 [positive_input](Rng& g) {
                   return Inputs{positive_input ? positive({3, 4}, g) : normal({3, 4}, g)};
                 },
                 [fn](const Inputs& in) { return fn(in[0]); }});
  };
  auto binary = [&](const std::string& op, const std::string& variant, Shape sa, Shape sb,
                    bool positive_b, auto fn) {
    c.push_back({op, variant,
                 [sa, sb, positive_b](Rng& g) {
                   return Inputs{normal(sa, g), positive_b ? positive(sb, g) : normal(sb, g)};
                 },
                 [fn](const Inputs& in) { return fn(in[0], in[1]); }});
  };

  // --- elementwise
  binary("add", "same shape", {3, 4}, {3, 4}, false, [](auto a, auto b) { return a + b; });
  binary("add", "broadcast [2,3,4]+[4]", {2, 3, 4}, {4}, false,
         [](auto a, auto b) { return a + b; });
  binary("add", "broadcast [3,1]+[1,4]", {3, 1}, {1, 4}, false,
         [](auto a, auto b) { return a + b; });
  binary("sub", "broadcast [3,4]-[3,1]", {3, 4}, {3, 1}, false,
         [](auto a, auto b) { return a - b; });
  binary("mul", "same shape", {2, 3}, {2, 3}, false, [](auto a, auto b) { return a * b; });
  binary("mul", "broadcast [2,3,4]*[3,1]", {2, 3, 4}, {3, 1}, false,
         [](auto a, auto b) { return a * b; });
  binary("div", "same shape", {3, 4}, {3, 4}, true, [](auto a, auto b) { return a / b; });
  binary("div", "broadcast [3,4]/[4]", {3, 4}, {4}, true, [](auto a, auto b) { return a / b; });
  binary("minimum", "broadcast [3,4],[4]", {3, 4}, {4}, false,
         [](auto a, auto b) { return minimum(a, b); });
  binary("maximum", "broadcast [3,4],[3,1]", {3, 4}, {3, 1}, false,
         [](auto a, auto b) { return maximum(a, b); });
  unary("neg", false, [](const Tensor& x) { return -x; });
  unary("affine", false, [](const Tensor& x) { return x * 2.5 + 1.0; });
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
  unary("sigmoid", false, [](const Tensor& x) { return sigmoid(x); });
  unary("softplus", false, [](const Tensor& x) { return softplus(x * 8.0); });  // both tails
  unary("sigmoid", false, [](const Tensor& x) { return sigmoid(x * 4.0); });
  unary("softplus", false, [](const Tensor& x) { return softplus(x * 30.0); });  // saturated tails
  unary("tanh", false, [](const Tensor& x) { return tanh(x); });
  unary("silu", false, [](const Tensor& x) { return silu(x * 3.0); });
  unary("relu", false, [](const Tensor& x) { return relu(x); });
  c.push_back({"where", "broadcast cond [3,4], a [3,4], b [4]",
               [](Rng& g) {
                 return Inputs{constant(gt(randn({3, 4}, g, DType::f64), 0.0)), normal({3, 4}, g),
                               normal({4}, g)};
               },
               [](const Inputs& in) { return where(in[0], in[1], in[2]); }});

  // --- reductions
  unary("sum", false, [](const Tensor& x) { return sum(x); });
  c.push_back({"sum", "dims {0,2} keepdim",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) {
                 return sum(in[0], {0, 2}, true);
               }});
  c.push_back({"sum", "dim -1",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) { return sum(in[0], {-1}); }});
  c.push_back({"mean", "dim 1",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) { return mean(in[0], {1}); }});
  c.push_back({"amax", "dim 1",
               [](Rng& g) {
                 return Inputs{normal({3, 5}, g)};
               },
               [](const Inputs& in) { return amax(in[0], {1}); }});
  c.push_back({"amin", "all",
               [](Rng& g) {
                 return Inputs{normal({3, 5}, g)};
               },
               [](const Inputs& in) { return amin(in[0]); }});
  c.push_back({"var", "dim 1 unbiased",
               [](Rng& g) {
                 return Inputs{normal({3, 5}, g)};
               },
               [](const Inputs& in) { return var(in[0], {1}); }});
  c.push_back({"var", "dims {0,2} population keepdim",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) {
                 return var(in[0], {0, 2}, 0, true);
               }});
  c.push_back({"sum_to", "[2,3,4] -> [3,1]",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) {
                 return sum_to(in[0], {3, 1});
               }});

  // --- linear algebra and convolution
  binary("matmul", "[3,4]@[4,5]", {3, 4}, {4, 5}, false,
         [](auto a, auto b) { return matmul(a, b); });
  binary("matmul", "batched [2,3,4]@[2,4,5]", {2, 3, 4}, {2, 4, 5}, false,
         [](auto a, auto b) { return matmul(a, b); });
  binary("matmul", "broadcast [2,1,3,4]@[3,4,2]", {2, 1, 3, 4}, {3, 4, 2}, false,
         [](auto a, auto b) { return matmul(a, b); });
  binary("matmul", "shared weight [2,3,4]@[4,5]", {2, 3, 4}, {4, 5}, false,
         [](auto a, auto b) { return matmul(a, b); });
  c.push_back({"linear", "x [5,4], bias",
               [](Rng& g) {
                 return Inputs{normal({5, 4}, g), normal({3, 4}, g), normal({3}, g)};
               },
               [](const Inputs& in) { return linear(in[0], in[1], in[2]); }});
  c.push_back({"linear", "x [2,3,4], no bias",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g), normal({3, 4}, g)};
               },
               [](const Inputs& in) { return linear(in[0], in[1]); }});
  c.push_back({"conv2d", "3x3 stride 1 pad 1, bias",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 5, 5}, g), normal({4, 3, 3, 3}, g), normal({4}, g)};
               },
               [](const Inputs& in) { return conv2d(in[0], in[1], in[2], 1, 1); }});
  c.push_back({"conv2d", "3x3 stride 2 pad 0",
               [](Rng& g) {
                 return Inputs{normal({2, 2, 6, 7}, g), normal({3, 2, 3, 3}, g)};
               },
               [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), 2, 0); }});
  c.push_back({"conv2d", "1x1 with bias",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4, 4}, g), normal({5, 3, 1, 1}, g), normal({5}, g)};
               },
               [](const Inputs& in) { return conv2d(in[0], in[1], in[2]); }});
  c.push_back({"conv2d", "2x3 kernel stride 2 pad 2",
               [](Rng& g) {
                 return Inputs{normal({1, 2, 5, 4}, g), normal({2, 2, 2, 3}, g)};
               },
               [](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), 2, 2); }});
  c.push_back({"avg_pool2d", "[2,3,4,6]",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4, 6}, g)};
               },
               [](const Inputs& in) { return avg_pool2d(in[0]); }});
  c.push_back({"upsample_nearest2d", "[2,2,3,2]",
               [](Rng& g) {
                 return Inputs{normal({2, 2, 3, 2}, g)};
               },
               [](const Inputs& in) { return upsample_nearest2d(in[0]); }});

  // --- normalisation and softmax
  c.push_back({"group_norm", "affine, 2 groups",
               [](Rng& g) {
                 return Inputs{normal({2, 4, 3, 3}, g), normal({4}, g), normal({4}, g)};
               },
               [](const Inputs& in) { return group_norm(in[0], 2, in[1], in[2], 1e-6); }});
  c.push_back({"group_norm", "no affine, 1 group",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 2, 2}, g)};
               },
               [](const Inputs& in) { return group_norm(in[0], 1); }});
  c.push_back({"group_norm_silu", "affine, 2 groups",
               [](Rng& g) {
                 return Inputs{normal({2, 4, 3, 3}, g), normal({4}, g), normal({4}, g)};
               },
               [](const Inputs& in) { return group_norm_silu(in[0], 2, in[1], in[2], 1e-6); }});
  c.push_back({"group_norm_silu", "no affine, 1 group, [N, C]",
               [](Rng& g) {
                 return Inputs{normal({3, 4}, g)};
               },
               [](const Inputs& in) { return group_norm_silu(in[0], 1); }});
  c.push_back({"group_norm", "no affine, 1 group, eps 1e-5",
               [](Rng& g) {
                 return Inputs{normal({3, 6, 2, 5}, g)};
               },
               [](const Inputs& in) { return group_norm(in[0], 1, Tensor(), Tensor(), 1e-5); }});
  c.push_back({"group_norm", "[N, C], 2 groups",
               [](Rng& g) {
                 return Inputs{normal({5, 8}, g), normal({8}, g), normal({8}, g)};
               },
               [](const Inputs& in) { return group_norm(in[0], 2, in[1], in[2], 1e-6); }});
  c.push_back({"group_norm_silu", "affine, 4 groups",
               [](Rng& g) {
                 return Inputs{normal({4, 8, 5, 5}, g), normal({8}, g), normal({8}, g)};
               },
               [](const Inputs& in) { return group_norm_silu(in[0], 4, in[1], in[2], 1e-5); }});
  c.push_back({"softmax", "dim 1",
               [](Rng& g) {
                 return Inputs{normal({3, 5}, g)};
               },
               [](const Inputs& in) { return softmax(in[0] * 3.0, 1); }});
  c.push_back({"log_softmax", "dim 0",
               [](Rng& g) {
                 return Inputs{normal({4, 3}, g)};
               },
               [](const Inputs& in) { return log_softmax(in[0] * 3.0, 0); }});

  // --- shape
  binary("concat", "dim 1", {2, 3}, {2, 2}, false, [](auto a, auto b) {
    return concat({a, b}, 1);
  });
  binary("stack", "dim 1", {2, 3}, {2, 3}, false, [](auto a, auto b) { return stack({a, b}, 1); });
  c.push_back({"split", "sizes {2,3} dim 0",
               [](Rng& g) {
                 return Inputs{normal({5, 3}, g)};
               },
               [](const Inputs& in) {
                 const auto pieces = split(in[0], {2, 3}, 0);
                 return sum(pieces[0] * 2.0) + sum(pieces[1] * pieces[1]);
               }});
  c.push_back({"reshape", "[2,3,4] -> [4,-1]",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) {
                 return in[0].reshape({4, -1}) * 1.0;
               }});
  c.push_back({"permute", "{2,0,1}",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) {
                 return in[0].permute({2, 0, 1}) * 1.0;
               }});
  c.push_back({"transpose", "0,2",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) { return in[0].transpose(0, 2) * 1.0; }});
  c.push_back({"slice", "dim 1, -4 to 5 step 2",
               [](Rng& g) {
                 return Inputs{normal({2, 6, 3}, g)};
               },
               [](const Inputs& in) { return in[0].slice(1, -4, 5, 2) * 1.0; }});
  c.push_back({"select", "dim 1 index -1",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) { return in[0].select(1, -1) * 1.0; }});
  c.push_back({"expand", "[3,1] -> [2,3,4]",
               [](Rng& g) {
                 return Inputs{normal({3, 1}, g)};
               },
               [](const Inputs& in) {
                 return in[0].expand({2, 3, 4}) * 1.0;
               }});
  c.push_back({"unsqueeze", "dim -1",
               [](Rng& g) {
                 return Inputs{normal({2, 3}, g)};
               },
               [](const Inputs& in) { return in[0].unsqueeze(-1) * 1.0; }});
  c.push_back({"squeeze", "dim 1",
               [](Rng& g) {
                 return Inputs{normal({2, 1, 3}, g)};
               },
               [](const Inputs& in) { return in[0].squeeze(1) * 1.0; }});
  c.push_back({"flatten", "dims 1..2",
               [](Rng& g) {
                 return Inputs{normal({2, 3, 4}, g)};
               },
               [](const Inputs& in) { return in[0].flatten(1) * 1.0; }});
  c.push_back(
      {"index_select", "dim 0 with a repeated index",
       [](Rng& g) {
         return Inputs{normal({5, 3}, g)};
       },
       [](const Inputs& in) {
         return index_select(in[0], 0, from_vector<int64_t>({4, 0, 4, 2}, {4}).to(in[0].device()));
       }});
  c.push_back(
      {"index_select", "dim 1",
       [](Rng& g) {
         return Inputs{normal({2, 4, 3}, g)};
       },
       [](const Inputs& in) {
         return index_select(in[0], 1, from_vector<int64_t>({3, 1}, {2}).to(in[0].device()));
       }});
  c.push_back({"contiguous", "of a transposed view",
               [](Rng& g) {
                 return Inputs{normal({3, 4}, g)};
               },
               [](const Inputs& in) { return in[0].transpose(0, 1).contiguous(); }});
  c.push_back({"clone", "[3,4]",
               [](Rng& g) {
                 return Inputs{normal({3, 4}, g)};
               },
               [](const Inputs& in) { return in[0].clone(); }});
  // Through f32 and back: finite differences need a larger step than f32 rounding.
  OpCase to_dtype{"to_dtype", "f64 -> f32 -> f64",
                  [](Rng& g) {
                    return Inputs{normal({3, 4}, g)};
                  },
                  [](const Inputs& in) { return in[0].to(DType::f32).to(DType::f64) * 3.0; }};
  to_dtype.options.eps = 1e-2;
  to_dtype.options.atol = 1e-4;
  to_dtype.f32_comparable = false;
  c.push_back(to_dtype);
  // To the other device and back (the CPU and a CUDA device, real or emulated), scaled so that
  // the gradient is not the identity a missing backward would also give.
  OpCase to_device{"to_device", "cpu <-> cuda:0",
                   [](Rng& g) {
                     return Inputs{normal({3, 4}, g)};
                   },
                   [](const Inputs& in) {
                     const Device here = in[0].device();
                     const Device other = here.is_cpu() ? Device::cuda(0) : Device::cpu();
                     return (in[0].to(other) * 3.0).to(here);
                   }};
  to_device.needs_second_device = true;
  c.push_back(to_device);

  // --- stochastic and losses
  OpCase drop{"dropout", "p 0.3, fixed seed",
              [](Rng& g) {
                return Inputs{normal({4, 5}, g)};
              },
              [](const Inputs& in) {
                Rng mask_gen(7);  // the same mask on every evaluation
                return dropout(in[0], 0.3, true, mask_gen);
              }};
  drop.f32_comparable = false;
  drop.same_precision_reference = true;
  c.push_back(drop);
  binary("mse_loss", "[3,4]", {3, 4}, {3, 4}, false, [](auto a, auto b) { return mse_loss(a, b); });
  c.push_back({"bce_with_logits", "targets in [0,1]",
               [](Rng& g) {
                 return Inputs{normal({3, 4}, g), param(rand({3, 4}, g, DType::f64))};
               },
               [](const Inputs& in) { return bce_with_logits(in[0] * 4.0, in[1]); }});
  // --- larger shapes, for the device kernels' multi-block and multi-pass paths
  auto large = [&](const std::string& op, const std::string& variant, std::vector<Shape> shapes,
                   OpFunction f) {
    OpCase row{op, variant,
               [shapes](Rng& g) {
                 Inputs in;
                 for (const Shape& s : shapes) in.push_back(normal(s, g));
                 return in;
               },
               std::move(f)};
    row.large = true;
    c.push_back(row);
  };
  large("mul", "large broadcast [64,33,17]*[33,1]", {{64, 33, 17}, {33, 1}},
        [](const Inputs& in) { return in[0] * in[1]; });
  large("silu", "large [257,129]", {{257, 129}},
        [](const Inputs& in) { return silu(in[0] * 3.0); });
  large("sum", "large dims {0,2,3}", {{16, 8, 20, 20}}, [](const Inputs& in) {
    return sum(in[0], {0, 2, 3});
  });
  large("mean", "large, all", {{300001}}, [](const Inputs& in) { return mean(in[0]); });
  large("amax", "large dim 0", {{5000, 3}}, [](const Inputs& in) { return amax(in[0], {0}); });
  large("matmul", "large batched [4,65,97]@[4,97,33]", {{4, 65, 97}, {4, 97, 33}},
        [](const Inputs& in) { return matmul(in[0], in[1]); });
  large("conv2d", "large 3x3 pad 1, bias", {{6, 16, 20, 20}, {24, 16, 3, 3}, {24}},
        [](const Inputs& in) { return conv2d(in[0], in[1], in[2], 1, 1); });
  // Group norm blocks wider than a channel, several passes per thread.
  large("group_norm", "large, affine, 8 groups", {{8, 32, 16, 16}, {32}, {32}},
        [](const Inputs& in) { return group_norm(in[0], 8, in[1], in[2], 1e-6); });
  large("group_norm_silu", "large, affine, 8 groups", {{4, 32, 24, 24}, {32}, {32}},
        [](const Inputs& in) { return group_norm_silu(in[0], 8, in[1], in[2], 1e-6); });
  large("softmax", "large dim 1", {{64, 1000}},
        [](const Inputs& in) { return softmax(in[0] * 3.0, 1); });
  large("dropout", "large, p 0.3, fixed seed", {{40, 50}}, [](const Inputs& in) {
    Rng mask_gen(7);
    return dropout(in[0], 0.3, true, mask_gen);
  });
  c.back().f32_comparable = false;
  c.back().same_precision_reference = true;
  return c;
}

Inputs OpCase::fixed_inputs() const {
  Rng gen(42);
  return make_inputs(gen);
}

Tensor OpCase::forward_without_grad(const Inputs& inputs) const {
  NoGradGuard no_grad;
  return f(inputs);
}

void PrintTo(const OpCase& c, std::ostream* os) {
  *os << c.op << " (" << c.variant << ")";
}

std::string op_case_name(const OpCase& c, size_t index) {
  std::string name = c.op + "_" + std::to_string(index);
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

}  // namespace onestep::testing
