// Optimizers, EMA and gradient utilities against float64 references of PyTorch's formulas
// (torch.optim.SGD / Adam / AdamW, torch.nn.utils.clip_grad_norm_, EDM's EMA).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "onestep/engine.h"
#include "onestep/nn/ema.h"
#include "onestep/nn/grad_utils.h"
#include "onestep/nn/optimizer.h"

namespace onestep::nn {
namespace {

using Vec = std::vector<double>;

constexpr double kTol = 1e-12;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Tensor leaf(const Vec& values, const Shape& shape) {
  Tensor t = from_vector(values, shape);
  t.set_requires_grad(true);
  return t;
}

Vec values(const Tensor& t) {
  return t.to_vector<double>();
}

void expect_near(const Vec& actual, const Vec& expected, double tol, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tol * std::max(1.0, std::abs(expected[i])))
        << what << " element " << i;
}

// A small problem with state-dependent gradients: for each parameter p (with fixed a > 0 and b),
// loss = sum(a/2 p^2 + b p), so dloss/dp = a p + b. The reference steps plain vectors.
struct Problem {
  std::vector<Tensor> params;
  std::vector<Vec> a, b;  // per parameter

  Problem() {
    params = {leaf({0.5, -1.0, 2.0, 0.25, -0.75, 1.5}, {2, 3}), leaf({0.1, -0.3, 0.7}, {3})};
    a = {{1.0, 2.0, 0.5, 3.0, 1.5, 0.8}, {0.9, 4.0, 1.2}};
    b = {{0.1, -0.2, 0.3, 0.0, 0.5, -0.4}, {-1.0, 0.2, 0.05}};
  }

  // Forward + backward through the engine: fills every parameter's .grad.
  void compute_grads(const std::vector<size_t>& which = {0, 1}) {
    Tensor loss = scalar_tensor(0.0, DType::f64);
    for (size_t i : which) {
      const Tensor& p = params[i];
      const Tensor a_t = from_vector(a[i], p.shape());
      const Tensor b_t = from_vector(b[i], p.shape());
      loss = loss + sum(a_t * square(p) * 0.5 + b_t * p);
    }
    loss.backward();
  }

  Vec ref_grad(size_t i, const Vec& p) const {
    Vec g(p.size());
    for (size_t k = 0; k < p.size(); ++k) g[k] = a[i][k] * p[k] + b[i][k];
    return g;
  }
};

// --- float64 references, written from the PyTorch docs' pseudo-code

struct RefSGD {
  double lr, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  Vec buf = {};

  void step(Vec& p, Vec g) {
    for (size_t k = 0; k < p.size(); ++k) g[k] += weight_decay * p[k];
    if (momentum != 0) {
      if (buf.empty()) {
        buf = g;
      } else {
        for (size_t k = 0; k < p.size(); ++k) buf[k] = momentum * buf[k] + (1 - dampening) * g[k];
      }
      for (size_t k = 0; k < p.size(); ++k) g[k] = nesterov ? g[k] + momentum * buf[k] : buf[k];
    }
    for (size_t k = 0; k < p.size(); ++k) p[k] -= lr * g[k];
  }
};

struct RefAdam {
  double lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;
  Vec m = {}, v = {};
  int t = 0;

  void step(Vec& p, Vec g) {
    if (m.empty()) {
      m.assign(p.size(), 0.0);
      v.assign(p.size(), 0.0);
    }
    ++t;
    for (size_t k = 0; k < p.size(); ++k) {
      if (decoupled) {
        p[k] *= 1 - lr * weight_decay;
      } else {
        g[k] += weight_decay * p[k];
      }
      m[k] = beta1 * m[k] + (1 - beta1) * g[k];
      v[k] = beta2 * v[k] + (1 - beta2) * g[k] * g[k];
      const double bias_correction1 = 1 - std::pow(beta1, t);
      const double bias_correction2 = 1 - std::pow(beta2, t);
      const double step_size = lr / bias_correction1;
      // eps sits outside the bias-corrected sqrt, as in PyTorch.
      const double denom = std::sqrt(v[k]) / std::sqrt(bias_correction2) + eps;
      p[k] -= step_size * m[k] / denom;
    }
  }
};

// Runs `steps` steps of `opt` on a Problem and of a reference (one per parameter) in lockstep.
template <class Ref>
void run_against_reference(Optimizer& opt, Problem& prob, std::vector<Ref>& refs, int steps,
                           const std::string& what) {
  std::vector<Vec> p_ref = {values(prob.params[0]), values(prob.params[1])};
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    prob.compute_grads();
    opt.step();
    for (size_t i = 0; i < p_ref.size(); ++i) refs[i].step(p_ref[i], prob.ref_grad(i, p_ref[i]));
    for (size_t i = 0; i < p_ref.size(); ++i)
      expect_near(values(prob.params[i]), p_ref[i], kTol,
                  what + " step " + std::to_string(s) + " param " + std::to_string(i));
  }
}

RefSGD reference_for(const SGDOptions& o) {
  return RefSGD{o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov};
}

RefAdam reference_for(const AdamOptions& o, bool decoupled) {
  return RefAdam{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, decoupled};
}

TEST(SGD, EachSettingMatchesReference) {
  struct Case {
    const char* name;
    SGDOptions options;  // lr, momentum, dampening, weight_decay, nesterov
    int steps;
  };
  const Case cases[] = {{"plain with weight decay", {0.1, 0.0, 0.0, 0.01, false}, 6},
                        {"momentum with dampening", {0.05, 0.9, 0.1, 1e-3, false}, 8},
                        {"nesterov", {0.05, 0.8, 0.0, 0.0, true}, 8}};
  for (const Case& c : cases) {
    Problem prob;
    SGD opt(prob.params, c.options);
    std::vector<RefSGD> refs(2, reference_for(c.options));
    run_against_reference(opt, prob, refs, c.steps, c.name);
  }
}

TEST(Adam, EachSettingMatchesReference) {
  struct Case {
    const char* name;
    AdamOptions options;  // lr, beta1, beta2, eps, weight_decay (L2)
  };
  const Case cases[] = {{"defaults", {0.05}}, {"beta1=0 with L2", {0.02, 0.0, 0.999, 1e-6, 0.1}}};
  for (const Case& c : cases) {
    Problem prob;
    Adam opt(prob.params, c.options);
    std::vector<RefAdam> refs(2, reference_for(c.options, /*decoupled=*/false));
    run_against_reference(opt, prob, refs, 10, c.name);
  }
}

TEST(AdamW, DecoupledWeightDecayMatchesReference) {
  Problem prob;
  AdamWOptions o;
  EXPECT_EQ(o.weight_decay, 1e-2);  // PyTorch's default
  o.lr = 0.03;
  o.beta1 = 0.8;
  o.beta2 = 0.99;
  o.weight_decay = 0.5;
  AdamW opt(prob.params, o);
  EXPECT_STREQ(opt.name(), "AdamW");
  std::vector<RefAdam> refs(2, reference_for(o, /*decoupled=*/true));
  run_against_reference(opt, prob, refs, 10, "adamw");
}

TEST(Adam, LearningRateChangesTakeEffect) {
  Problem prob;
  Adam opt(prob.params, AdamOptions{0.05});
  std::vector<RefAdam> refs(2, RefAdam{0.05});
  run_against_reference(opt, prob, refs, 3, "before");
  opt.set_learning_rate(0.01);
  EXPECT_EQ(opt.learning_rate(), 0.01);
  for (auto& r : refs) r.lr = 0.01;
  run_against_reference(opt, prob, refs, 3, "after");
  opt.set_learning_rate(0.0);  // a warm-up starting at 0 freezes the parameters
  const Vec before = values(prob.params[0]);
  opt.zero_grad();
  prob.compute_grads();
  opt.step();
  EXPECT_EQ(values(prob.params[0]), before);
  EXPECT_THROW(opt.set_learning_rate(-1e-3), Error);
  EXPECT_THROW(opt.set_learning_rate(kNaN), Error);
}

TEST(SGD, LearningRateChangesTakeEffect) {
  Problem prob;
  SGD opt(prob.params, SGDOptions{0.1, 0.5});
  std::vector<RefSGD> refs(2, RefSGD{0.1, 0.5});
  run_against_reference(opt, prob, refs, 2, "before");
  opt.set_learning_rate(0.3);
  for (auto& r : refs) r.lr = 0.3;
  run_against_reference(opt, prob, refs, 2, "after");
}

TEST(Optimizer, ZeroGradDropsGradients) {
  Problem prob;
  Adam opt(prob.params);
  prob.compute_grads();
  ASSERT_TRUE(prob.params[0].grad().defined());
  opt.zero_grad();
  EXPECT_FALSE(prob.params[0].grad().defined());
  EXPECT_FALSE(prob.params[1].grad().defined());
}

TEST(Optimizer, ParamsWithoutGradAreSkipped) {
  Problem prob;
  AdamOptions o;
  o.lr = 0.05;
  o.weight_decay = 0.1;  // would move the parameter even with a zero gradient
  Adam opt(prob.params, o);
  const Vec frozen = values(prob.params[1]);
  std::vector<RefAdam> refs(2, RefAdam{0.05, 0.9, 0.999, 1e-8, 0.1});
  Vec p0 = values(prob.params[0]);
  for (int s = 0; s < 3; ++s) {
    opt.zero_grad();
    prob.compute_grads({0});
    ASSERT_FALSE(prob.params[1].grad().defined());
    opt.step();
    refs[0].step(p0, prob.ref_grad(0, p0));
  }
  EXPECT_EQ(values(prob.params[1]), frozen);
  expect_near(values(prob.params[0]), p0, kTol, "stepped param");
  for (const auto& [key, t] : opt.state()) EXPECT_EQ(key.back(), '0') << key;

  // Its first step later is its own step 1 (bias correction starts afresh), as in PyTorch.
  Vec p1 = frozen;
  opt.zero_grad();
  prob.compute_grads();
  opt.step();
  refs[0].step(p0, prob.ref_grad(0, p0));
  refs[1].step(p1, prob.ref_grad(1, p1));
  expect_near(values(prob.params[0]), p0, kTol, "param 0");
  expect_near(values(prob.params[1]), p1, kTol, "param 1");
  for (const auto& [key, t] : opt.state()) {
    if (key == "step.1") {
      EXPECT_EQ(t.item(), 1.0);
    }
  }
}

TEST(Optimizer, Float32ParamsFollowTheReference) {
  Tensor p = from_vector(std::vector<float>{0.5f, -1.0f, 2.0f}, {3});
  p.set_requires_grad(true);
  AdamOptions o;
  o.lr = 0.1;
  Adam opt({p}, o);
  RefAdam ref{0.1};
  Vec p_ref = {0.5, -1.0, 2.0};
  for (int s = 0; s < 5; ++s) {
    opt.zero_grad();
    sum(square(p)).backward();
    opt.step();
    ref.step(p_ref, {2 * p_ref[0], 2 * p_ref[1], 2 * p_ref[2]});
  }
  EXPECT_EQ(p.dtype(), DType::f32);
  expect_near(values(p), p_ref, 1e-5, "f32 adam");
  for (const auto& [key, t] : opt.state()) {
    if (key != "step.0") {
      EXPECT_EQ(t.dtype(), DType::f32) << key;
    }
  }
}

// --- checkpoint state

template <class Opt, class Options>
void expect_bit_identical_resume(const Options& options) {
  constexpr int kBefore = 4, kAfter = 5;
  Problem a;
  Opt opt_a(a.params, options);
  for (int s = 0; s < kBefore; ++s) {
    opt_a.zero_grad();
    a.compute_grads();
    opt_a.step();
  }
  const NamedTensors saved = opt_a.state();
  Problem b;  // same coefficients; parameters restored from a's checkpoint below
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < b.params.size(); ++i) b.params[i].copy_(a.params[i]);
  }
  for (int s = 0; s < kAfter; ++s) {
    opt_a.zero_grad();
    a.compute_grads();
    opt_a.step();
  }
  Opt opt_b(b.params, options);
  opt_b.load_state(saved);
  for (int s = 0; s < kAfter; ++s) {
    opt_b.zero_grad();
    b.compute_grads();
    opt_b.step();
  }
  for (size_t i = 0; i < a.params.size(); ++i)
    EXPECT_EQ(values(a.params[i]), values(b.params[i])) << opt_a.name() << " param " << i;
  // And the states agree entry by entry.
  const NamedTensors sa = opt_a.state(), sb = opt_b.state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t k = 0; k < sa.size(); ++k) {
    EXPECT_EQ(sa[k].first, sb[k].first);
    EXPECT_EQ(values(sa[k].second), values(sb[k].second)) << sa[k].first;
  }
}

TEST(OptimizerState, AdamResumesBitIdentically) {
  AdamOptions o;
  o.lr = 0.05;
  o.weight_decay = 0.01;
  expect_bit_identical_resume<Adam>(o);
}

TEST(OptimizerState, AdamWBeta1ZeroResumesBitIdentically) {
  AdamWOptions o;
  o.lr = 0.05;
  o.beta1 = 0.0;
  expect_bit_identical_resume<AdamW>(o);
}

TEST(OptimizerState, SGDMomentumResumesBitIdentically) {
  SGDOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.nesterov = true;
  expect_bit_identical_resume<SGD>(o);
}

TEST(OptimizerState, NamesAndContents) {
  Problem prob;
  Adam opt(prob.params);
  EXPECT_TRUE(opt.state().empty());  // nothing stepped yet
  prob.compute_grads();
  opt.step();
  opt.step();  // the same gradient twice
  const NamedTensors st = opt.state();
  std::vector<std::string> keys;
  for (const auto& [key, t] : st) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"step.0", "exp_avg.0", "exp_avg_sq.0", "step.1",
                                            "exp_avg.1", "exp_avg_sq.1"}));
  EXPECT_EQ(st[0].second.dtype(), DType::i64);
  EXPECT_EQ(st[0].second.dim(), 0);
  EXPECT_EQ(st[0].second.item(), 2.0);
  EXPECT_EQ(st[1].second.shape(), (Shape{2, 3}));
  // A snapshot: later steps leave it alone.
  const Vec exp_avg = values(st[1].second);
  opt.step();
  EXPECT_EQ(values(st[1].second), exp_avg);
  EXPECT_EQ(st[0].second.item(), 2.0);

  SGDOptions plain;
  SGD sgd(prob.params, plain);
  sgd.step();
  const NamedTensors sgd_state = sgd.state();
  ASSERT_EQ(sgd_state.size(), 2u);  // no momentum: only the step counts
  EXPECT_EQ(sgd_state[0].first, "step.0");
}

TEST(OptimizerState, LoadStateAcceptsF64StepAndStartsMissingParamsAfresh) {
  Problem prob;
  Adam opt(prob.params);
  NamedTensors st = {{"step.1", scalar_tensor(3.0, DType::f64)},
                     {"exp_avg.1", full({3}, 0.5, DType::f64)},
                     {"exp_avg_sq.1", full({3}, 0.25, DType::f64)}};
  opt.load_state(st);
  const NamedTensors back = opt.state();
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].first, "step.1");
  EXPECT_EQ(back[0].second.item(), 3.0);
  // The optimizer copied the tensors: writing into the caller's ones changes nothing.
  st[1].second.fill_(9.0);
  EXPECT_EQ(values(opt.state()[1].second), Vec(3, 0.5));
  opt.load_state({});
  EXPECT_TRUE(opt.state().empty());
}

TEST(OptimizerState, LoadStateRejectsMismatches) {
  Problem prob;
  Adam opt(prob.params);
  prob.compute_grads();
  opt.step();
  const NamedTensors good = opt.state();
  auto with = [&](const std::string& key, const Tensor& t) {
    NamedTensors st = good;
    for (auto& [k, v] : st)
      if (k == key) v = t;
    return st;
  };
  auto expect_error = [&](const NamedTensors& st, const std::string& fragment) {
    try {
      opt.load_state(st);
      ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error(with("exp_avg.0", zeros({3, 2}, DType::f64)), "exp_avg.0");
  expect_error(with("exp_avg.0", zeros({3, 2}, DType::f64)), "[3, 2]");
  expect_error(with("exp_avg_sq.1", zeros({3}, DType::f32)), "f32");
  expect_error(with("step.0", scalar_tensor(1.5, DType::f64)), "whole number");
  expect_error(with("step.0", scalar_tensor(-1.0, DType::i64)), "whole number");
  expect_error(with("step.0", scalar_tensor(1.0, DType::f32)), "i64 or f64");
  NamedTensors extra = good;
  extra.emplace_back("exp_avg.2", zeros({3}, DType::f64));  // only 2 parameters
  expect_error(extra, "unexpected entry 'exp_avg.2'");
  NamedTensors unknown = good;
  unknown.emplace_back("momentum_buffer.0", zeros({2, 3}, DType::f64));
  expect_error(unknown, "momentum_buffer.0");
  NamedTensors no_index = good;
  no_index.emplace_back("step", scalar_tensor(1.0, DType::i64));
  expect_error(no_index, "unexpected entry 'step'");
  NamedTensors twice = good;
  twice.push_back(good[1]);
  expect_error(twice, "twice");
  NamedTensors missing(good.begin(), good.begin() + 2);  // step.0, exp_avg.0
  expect_error(missing, "exp_avg_sq.0");
  NamedTensors no_step(good.begin() + 1, good.end());
  expect_error(no_step, "step.0");

  // A failed load leaves the previous state in place.
  const NamedTensors after = opt.state();
  ASSERT_EQ(after.size(), good.size());
  for (size_t k = 0; k < good.size(); ++k)
    EXPECT_EQ(values(after[k].second), values(good[k].second)) << good[k].first;
}

TEST(OptimizerOptions, AreValidated) {
  Problem prob;
  auto adam = [&](auto edit) {
    AdamOptions o;
    edit(o);
    return Adam(prob.params, o);
  };
  EXPECT_THROW(adam([](AdamOptions& o) { o.lr = -1; }), Error);
  EXPECT_THROW(adam([](AdamOptions& o) { o.lr = kNaN; }), Error);
  EXPECT_THROW(adam([](AdamOptions& o) { o.beta1 = 1.0; }), Error);
  EXPECT_THROW(adam([](AdamOptions& o) { o.beta1 = -0.1; }), Error);
  EXPECT_THROW(adam([](AdamOptions& o) { o.beta2 = 1.0; }), Error);
  EXPECT_THROW(adam([](AdamOptions& o) { o.eps = 0.0; }), Error);
  EXPECT_THROW(adam([](AdamOptions& o) { o.weight_decay = -1e-4; }), Error);
  EXPECT_NO_THROW(adam([](AdamOptions& o) { o.beta1 = 0.0; }));
  EXPECT_NO_THROW(adam([](AdamOptions& o) { o.lr = 0.0; }));

  auto sgd = [&](auto edit) {
    SGDOptions o;
    edit(o);
    return SGD(prob.params, o);
  };
  EXPECT_THROW(sgd([](SGDOptions& o) { o.nesterov = true; }), Error);  // no momentum
  EXPECT_THROW(sgd([](SGDOptions& o) {
                 o.nesterov = true;
                 o.momentum = 0.9;
                 o.dampening = 0.1;
               }),
               Error);
  EXPECT_THROW(sgd([](SGDOptions& o) { o.momentum = -0.5; }), Error);
  EXPECT_THROW(sgd([](SGDOptions& o) { o.weight_decay = kInf; }), Error);

  EXPECT_THROW(Adam(std::vector<Tensor>{}), Error);
  EXPECT_THROW(Adam({prob.params[0], prob.params[0]}), Error);
  Tensor not_leaf = prob.params[0] * 2.0;
  EXPECT_THROW(Adam({not_leaf}), Error);
  EXPECT_THROW(Adam({zeros({2}, DType::i64)}), Error);
  try {
    AdamOptions o;
    o.beta1 = 1.5;
    Adam bad(prob.params, o);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beta1"), std::string::npos) << e.what();
  }
}

// --- EMA

TEST(EMA, UpdateAveragesTowardsTheParameters) {
  Tensor w = leaf({1.0, 2.0, -3.0}, {3});
  Tensor b = leaf({0.5}, {1});
  ExponentialMovingAverage ema({w, b});
  EXPECT_EQ(values(ema.shadows()[0]), values(w));
  EXPECT_FALSE(ema.shadows()[0].shares_storage(w));
  EXPECT_FALSE(ema.shadows()[0].requires_grad());

  Vec s = {1.0, 2.0, -3.0};
  const std::vector<Vec> w_values = {{2.0, 0.0, -1.0}, {4.0, -2.0, 5.0}};
  for (const Vec& next : w_values) {
    {
      NoGradGuard no_grad;
      w.copy_(from_vector(next, {3}));
    }
    ema.update(0.9);  // update with a parameter that requires grad, in grad mode
    for (size_t k = 0; k < s.size(); ++k) s[k] = 0.9 * s[k] + (1 - 0.9) * next[k];
    expect_near(values(ema.shadows()[0]), s, kTol, "shadow");
  }
  EXPECT_EQ(values(ema.shadows()[1]), Vec{0.5});
  EXPECT_EQ(ema.num_updates(), 2);

  const Vec kept = values(ema.shadows()[0]);
  ema.update(1.0);  // keeps the shadows
  EXPECT_EQ(values(ema.shadows()[0]), kept);
  ema.update(0.0);  // copies the parameters
  EXPECT_EQ(values(ema.shadows()[0]), w_values.back());
  EXPECT_THROW(ema.update(1.5), Error);
  EXPECT_THROW(ema.update(-0.1), Error);
}

TEST(EMA, HalfLifeFormula) {
  // EDM defaults: half-life 500 kimg, batch 512.
  EXPECT_NEAR(ExponentialMovingAverage::decay_for_half_life(500000, 512),
              std::pow(0.5, 512.0 / 500000.0), 1e-15);
  // After half_life / batch updates the old weights count one half.
  const double d = ExponentialMovingAverage::decay_for_half_life(1000, 10);
  EXPECT_NEAR(std::pow(d, 100), 0.5, 1e-12);
  EXPECT_EQ(ExponentialMovingAverage::decay_for_half_life(0, 10), 0.0);
  // Ramp-up: half-life capped at images_seen * ratio.
  EXPECT_EQ(ExponentialMovingAverage::decay_for_half_life(500000, 512, 0, 0.05), 0.0);
  EXPECT_NEAR(ExponentialMovingAverage::decay_for_half_life(500000, 512, 1e6, 0.05),
              std::pow(0.5, 512.0 / 50000.0), 1e-15);
  EXPECT_NEAR(ExponentialMovingAverage::decay_for_half_life(500000, 512, 1e9, 0.05),
              std::pow(0.5, 512.0 / 500000.0), 1e-15);
  EXPECT_THROW(ExponentialMovingAverage::decay_for_half_life(-1, 512), Error);
  EXPECT_THROW(ExponentialMovingAverage::decay_for_half_life(1000, 0), Error);
  EXPECT_THROW(ExponentialMovingAverage::decay_for_half_life(1000, 8, -1, 0.05), Error);
}

TEST(EMA, CopyToAndSwap) {
  Tensor w = leaf({1.0, 2.0}, {2});
  ExponentialMovingAverage ema({w});
  {
    NoGradGuard no_grad;
    w.fill_(3.0);
  }
  ema.update(0.5);  // shadow = [2, 2.5]
  const Vec shadow = {2.0, 2.5};
  EXPECT_EQ(values(ema.shadows()[0]), shadow);

  Tensor eval_copy = zeros({2}, DType::f64);
  ema.copy_to({eval_copy});
  EXPECT_EQ(values(eval_copy), shadow);
  EXPECT_THROW(ema.copy_to({zeros({3}, DType::f64)}), Error);
  EXPECT_THROW(ema.copy_to({}), Error);

  ema.swap();
  EXPECT_EQ(values(w), shadow);
  EXPECT_EQ(values(ema.shadows()[0]), Vec(2, 3.0));
  EXPECT_TRUE(w.requires_grad());
  ema.swap();
  EXPECT_EQ(values(w), Vec(2, 3.0));
  EXPECT_EQ(values(ema.shadows()[0]), shadow);

  ema.copy_to();
  EXPECT_EQ(values(w), shadow);
}

TEST(EMA, StateRoundTripAndErrors) {
  Tensor w = leaf({1.0, 2.0}, {2});
  Tensor b = leaf({-1.0}, {1});
  ExponentialMovingAverage ema({w, b});
  {
    NoGradGuard no_grad;
    w.fill_(5.0);
  }
  ema.update(0.9);
  const NamedTensors st = ema.state();
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].first, "shadow.0");
  EXPECT_EQ(st[2].first, "num_updates");
  EXPECT_EQ(st[2].second.dtype(), DType::i64);

  ExponentialMovingAverage fresh({w, b});
  fresh.load_state(st);
  EXPECT_EQ(values(fresh.shadows()[0]), values(ema.shadows()[0]));
  EXPECT_EQ(fresh.num_updates(), 1);
  ema.update(0.7);
  fresh.update(0.7);
  EXPECT_EQ(values(fresh.shadows()[0]), values(ema.shadows()[0]));

  NamedTensors bad_shape = st;
  bad_shape[1].second = zeros({2}, DType::f64);
  EXPECT_THROW(fresh.load_state(bad_shape), Error);
  NamedTensors bad_dtype = st;
  bad_dtype[0].second = zeros({2}, DType::f32);
  EXPECT_THROW(fresh.load_state(bad_dtype), Error);
  EXPECT_THROW(fresh.load_state({st[0], st[2]}), Error);  // shadow.1 missing
  EXPECT_THROW(fresh.load_state({st[0], st[1]}), Error);  // num_updates missing
  NamedTensors extra = st;
  extra.emplace_back("shadow.2", zeros({1}, DType::f64));
  EXPECT_THROW(fresh.load_state(extra), Error);
  EXPECT_EQ(fresh.num_updates(), 2);  // unchanged by the failed loads
}

// --- gradient utilities

std::vector<Tensor> params_with_grads(const std::vector<Vec>& grads) {
  std::vector<Tensor> params;
  for (const Vec& g : grads) {
    Tensor p = leaf(Vec(g.size(), 0.0), {int64_t(g.size())});
    p.set_grad(from_vector(g, {int64_t(g.size())}));
    params.push_back(p);
  }
  return params;
}

TEST(ClipGradNorm, ScalesAboveMaxNormAndReturnsTheNormBefore) {
  auto params = params_with_grads({{3.0, 4.0}, {12.0}});  // norm 13
  params.push_back(leaf({1.0}, {1}));                     // no grad: skipped
  EXPECT_NEAR(clip_grad_norm(params, 6.5), 13.0, 1e-12);
  const double scale = 6.5 / (13.0 + 1e-6);  // PyTorch's clip coefficient
  expect_near(values(params[0].grad()), {3.0 * scale, 4.0 * scale}, 1e-14, "grad 0");
  expect_near(values(params[1].grad()), {12.0 * scale}, 1e-14, "grad 1");
  EXPECT_FALSE(params[2].grad().defined());
  EXPECT_NEAR(clip_grad_norm(params, 100.0), 6.5, 1e-5);
}

TEST(ClipGradNorm, NoOpBelowMaxNorm) {
  auto params = params_with_grads({{0.3, -0.4}});
  EXPECT_NEAR(clip_grad_norm(params, 1.0), 0.5, 1e-15);
  EXPECT_EQ(values(params[0].grad()), (Vec{0.3, -0.4}));
  EXPECT_EQ(clip_grad_norm({leaf({1.0}, {1})}, 1.0), 0.0);  // no gradients at all
  EXPECT_THROW(clip_grad_norm(params, 0.0), Error);
  EXPECT_THROW(clip_grad_norm(params, kNaN), Error);
}

TEST(ClipGradNorm, NonFiniteNormLeavesGradientsUnchanged) {
  auto params = params_with_grads({{3.0, kInf}, {1.0}});
  const double norm = clip_grad_norm(params, 1.0);
  EXPECT_TRUE(std::isinf(norm));
  EXPECT_EQ(values(params[0].grad()), (Vec{3.0, kInf}));
  EXPECT_EQ(values(params[1].grad()), Vec{1.0});

  auto nan_params = params_with_grads({{kNaN, 1.0}});
  EXPECT_TRUE(std::isnan(clip_grad_norm(nan_params, 1.0)));
  EXPECT_EQ(values(nan_params[0].grad())[1], 1.0);
  EXPECT_THROW(clip_grad_norm(nan_params, 1.0, /*error_if_nonfinite=*/true), Error);
}

TEST(ClipGradNorm, Float32Grads) {
  Tensor p = zeros({4});
  p.set_requires_grad(true);
  p.set_grad(from_vector(std::vector<float>{1, 1, 1, 1}, {4}));
  EXPECT_NEAR(clip_grad_norm({p}, 1.0), 2.0, 1e-6);
  expect_near(values(p.grad()), Vec(4, 0.5 / (1 + 5e-7)), 1e-6, "f32 grad");
}

TEST(ClipGradValue, ClampsEveryElement) {
  auto params = params_with_grads({{-3.0, 0.5, 2.0}, {-0.25, 7.0}});
  clip_grad_value(params, 1.0);
  EXPECT_EQ(values(params[0].grad()), (Vec{-1.0, 0.5, 1.0}));
  EXPECT_EQ(values(params[1].grad()), (Vec{-0.25, 1.0}));
  EXPECT_THROW(clip_grad_value(params, -1.0), Error);
}

TEST(ClipGradValue, NaNStaysNaN) {
  // Long enough for the vectorised path of the backend as well as the scalar tail.
  Vec g(37, 5.0);
  g[3] = kNaN;
  g[36] = kNaN;
  g[10] = -kInf;
  auto params = params_with_grads({g});
  clip_grad_value(params, 2.0);
  const Vec out = values(params[0].grad());
  EXPECT_TRUE(std::isnan(out[3]));
  EXPECT_TRUE(std::isnan(out[36]));
  EXPECT_EQ(out[10], -2.0);
  EXPECT_EQ(out[0], 2.0);

  Tensor p = zeros({1000});
  p.set_requires_grad(true);
  std::vector<float> g32(1000, -4.0f);
  g32[517] = std::numeric_limits<float>::quiet_NaN();
  p.set_grad(from_vector(g32, {1000}));
  clip_grad_value({p}, 3.0);
  const Vec out32 = values(p.grad());
  EXPECT_TRUE(std::isnan(out32[517]));
  EXPECT_EQ(out32[516], -3.0);
}

TEST(ZeroNonfiniteGrads, ReplacesAndCounts) {
  auto params = params_with_grads({{1.0, kNaN, kInf, -kInf, 2.0}, {0.5, 0.25}});
  params.push_back(leaf({1.0}, {1}));  // no grad
  EXPECT_EQ(zero_nonfinite_grads(params), 3);
  EXPECT_EQ(values(params[0].grad()), (Vec{1.0, 0.0, 0.0, 0.0, 2.0}));
  EXPECT_EQ(values(params[1].grad()), (Vec{0.5, 0.25}));
  EXPECT_EQ(zero_nonfinite_grads(params), 0);
}

TEST(ZeroNonfiniteGrads, Float32AndOverflowingSums) {
  Tensor p = zeros({1000});
  p.set_requires_grad(true);
  std::vector<float> g(1000, 1.0f);
  g[0] = std::numeric_limits<float>::quiet_NaN();
  g[999] = std::numeric_limits<float>::infinity();
  g[500] = std::numeric_limits<float>::quiet_NaN();
  p.set_grad(from_vector(g, {1000}));
  EXPECT_EQ(zero_nonfinite_grads({p}), 3);
  const Vec out = values(p.grad());
  EXPECT_EQ(out[0], 0.0);
  EXPECT_EQ(out[500], 0.0);
  EXPECT_EQ(out[999], 0.0);
  EXPECT_EQ(out[1], 1.0);

  // Finite elements whose sum overflows: nothing to replace.
  auto big = params_with_grads({{1e308, 1e308, -1.0}});
  EXPECT_EQ(zero_nonfinite_grads(big), 0);
  EXPECT_EQ(values(big[0].grad()), (Vec{1e308, 1e308, -1.0}));
}

}  // namespace
}  // namespace onestep::nn
