// Every method's generator loss on a tiny fixed input, against values derived by hand.
//
// Two samples of two elements, float64. The "networks" are affine in x_t = x_g + sigma eps, so
// every gradient with respect to x_g can be written down by the chain rule:
//   D_p(x_t) = a_p x_t + b_p,  D_q(x_t) = a_q x_t + b_q,  logit(x_t) = <w, x_t> + b_w,
//   dx_t/dx_g = I, dD_p/dx_g = a_p I, dD_q/dx_g = a_q I, dDelta/dx_g = (a_p - a_q) I,
//   dlogit/dx_g = w.
// Values (hand arithmetic, checked by the reference below):
//   sample 0: x_g = (0.3, -0.7), eps = (0.5, -1), sigma 0.5 -> x_t = (0.55, -1.2),
//     D_p = (0.54, -1.16), D_q = (0.28, -0.57), Delta = (0.26, -0.59), logit 0.78,
//     nu = (|0.3 - 0.54| + |-0.7 + 1.16|) / 2 = 0.35
//   sample 1: x_g = (1.1, 0.4), eps = (-0.2, 0.8), sigma 2 -> x_t = (0.7, 2.0),
//     D_p = (0.66, 1.4), D_q = (0.37, 1.35), Delta = (0.29, 0.05), logit -0.12, nu = 0.72
//   e.g. SiD (alpha 1.2), sample 0: |Delta|^2 = 0.4157, <Delta, D_q - x_g> = 0.26 (-0.02) +
//     (-0.59)(0.13) = -0.0819, loss = (-0.2 (0.4157) - 0.0819) / 0.35 = -0.471543.
// The reference writes each method's published loss and its gradient out in scalars, one
// sample at a time, independently of the tensor code: a changed sign, constant, normaliser,
// stop-gradient or GAN weight in distill/src/generator_loss.cpp, sim.cpp or uni_instruct.cpp
// changes a value or a gradient here.

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>

#include "onestep/distill/generator_loss.h"
#include "onestep/distill/methods.h"
#include "onestep/engine.h"

namespace onestep::distill {
namespace {

using Vec = std::array<double, 2>;

constexpr double kAp = 0.8, kAq = 0.6;
constexpr Vec kBp = {0.1, -0.2}, kBq = {-0.05, 0.15}, kW = {0.4, -0.3};
constexpr double kBw = 0.2;
constexpr Vec kXg[2] = {{0.3, -0.7}, {1.1, 0.4}};
constexpr Vec kEps[2] = {{0.5, -1.0}, {-0.2, 0.8}};
constexpr double kSigma[2] = {0.5, 2.0};

double dot(const Vec& a, const Vec& b) {
  return a[0] * b[0] + a[1] * b[1];
}
Vec add(const Vec& a, const Vec& b) {
  return {a[0] + b[0], a[1] + b[1]};
}
Vec sub(const Vec& a, const Vec& b) {
  return {a[0] - b[0], a[1] - b[1]};
}
Vec scale(const Vec& a, double s) {
  return {a[0] * s, a[1] * s};
}

// One sample's quantities, in doubles.
struct Sample {
  Vec xg, xt, dp, dq, delta;
  double sigma, logit, nu;
  explicit Sample(int n) : xg(kXg[n]), sigma(kSigma[n]) {
    xt = add(xg, scale(kEps[n], sigma));
    dp = add(scale(xt, kAp), kBp);
    dq = add(scale(xt, kAq), kBq);
    delta = sub(dp, dq);
    logit = dot(kW, xt) + kBw;
    nu = (std::abs(xg[0] - dp[0]) + std::abs(xg[1] - dp[1])) / 2;  // stop-gradient
  }
  double delta_sq() const { return dot(delta, delta); }
  // <Delta, D_q - x_g> and its gradient (a_p - a_q)(D_q - x_g) + (a_q - 1) Delta.
  double sim_direction() const { return dot(delta, sub(dq, xg)); }
  Vec sim_direction_grad() const {
    return add(scale(sub(dq, xg), kAp - kAq), scale(delta, kAq - 1));
  }
  Vec delta_sq_grad() const { return scale(delta, 2 * (kAp - kAq)); }
  double ratio() const { return std::exp(logit); }  // inside the clamp [1e-3, 1e3] here
};

struct Expected {
  double value;
  Vec grad;  // d value / d x_g of this sample
};

// The published losses, per sample.
Expected sid(const Sample& s, double alpha) {
  // [(1 - alpha) |Delta|^2 + <Delta, D_q - x_g>] / nu
  return {((1 - alpha) * s.delta_sq() + s.sim_direction()) / s.nu,
          scale(add(scale(s.delta_sq_grad(), 1 - alpha), s.sim_direction_grad()), 1 / s.nu)};
}

Expected diff_instruct(const Sample& s) {
  // <sg(D_q - D_p), x_g>: the gradient is D_q - D_p = -Delta
  return {dot(scale(s.delta, -1), s.xg), scale(s.delta, -1)};
}

Expected dmd(const Sample& s, double weight = 1) {
  // <sg(w (D_q - D_p) / nu), x_g>
  const Vec direction = scale(s.delta, -weight / s.nu);
  return {dot(direction, s.xg), direction};
}

// With over_nu (the official code): times the batch mean of 1/nu, (1/0.35 + 1/0.72)/2.
Expected gan(const Sample& s, bool over_nu = false) {
  // softplus(-logit); d/dlogit = -1 / (1 + e^logit), dlogit/dx_g = w
  const double k = over_nu ? (1 / 0.35 + 1 / 0.72) / 2 : 1;
  return {std::log1p(std::exp(-s.logit)) * k, scale(kW, -k / (1 + std::exp(s.logit)))};
}

// h, h - r h' and r^2 h'' of Jeffreys ((r - 1) log r) and Jensen-Shannon.
struct Weights {
  std::function<double(double)> h, h_minus_rhp, r2_hpp;
};
const Weights kJeffreys{[](double r) { return r + 1; }, [](double) { return 1.0; },
                        [](double) { return 0.0; }};
const Weights kJensenShannon{[](double r) { return r / (r + 1); },
                             [](double r) { return r * r / ((r + 1) * (r + 1)); },
                             [](double r) { return -2 * r * r / std::pow(r + 1, 3); }};
const Weights kOfficialJeffreys{[](double r) { return 0.4 * r + 0.6; }, [](double) { return 0.6; },
                                [](double) { return 0.0; }};

// Uni-Instruct, ratio gradient through the discriminator: r = e^logit keeps its gradient,
// dr/dx_g = r w.
//   l = h(r) <Delta, D_q - x_g> + (h - r h')(r) |Delta|^2 / 2, divided by nu;
//   d(h - r h')/dr = -r h'', so the path coefficient's gradient is -r^2 h'' w.
Expected uni_instruct_through_discriminator(const Sample& s, const Weights& f) {
  const double r = s.ratio();
  const double h = f.h(r), p = f.h_minus_rhp(r), r2hpp = f.r2_hpp(r);
  const double r_hprime = h - p;  // r h'
  const double value = h * s.sim_direction() + p * s.delta_sq() / 2;
  Vec grad = scale(kW, r_hprime * s.sim_direction());  // through h(r)
  grad = add(grad, scale(s.sim_direction_grad(), h));
  grad = add(grad, scale(kW, -r2hpp * s.delta_sq() / 2));  // through the path coefficient
  grad = add(grad, scale(s.delta_sq_grad(), p / 2));
  return {value / s.nu, scale(grad, 1 / s.nu)};
}

// Closed form: r stop-gradient; the DI term <sg(r^2 h'' / (2 sigma^2) |Delta|^2 (D_q - D_p)), x_g>
// and the ratio term <sg(r h' / sigma^2 <Delta, D_q - x_g> Delta), x_t> supply r's gradient.
Expected uni_instruct_closed_form(const Sample& s, const Weights& f) {
  const double r = s.ratio(), s2 = s.sigma * s.sigma;
  const double h = f.h(r), p = f.h_minus_rhp(r), r2hpp = f.r2_hpp(r), r_hprime = h - p;
  const Vec di = scale(s.delta, -r2hpp / (2 * s2) * s.delta_sq());
  const Vec ratio = scale(s.delta, r_hprime / s2 * s.sim_direction());
  const double value =
      h * s.sim_direction() + p * s.delta_sq() / 2 + dot(di, s.xg) + dot(ratio, s.xt);
  Vec grad = add(scale(s.sim_direction_grad(), h), scale(s.delta_sq_grad(), p / 2));
  grad = add(add(grad, di), ratio);
  return {value / s.nu, scale(grad, 1 / s.nu)};
}

// The official weighting: h(r) stop-gradient, no path term, the DI term kept.
Expected uni_instruct_official(const Sample& s, const Weights& f) {
  const double r = s.ratio(), s2 = s.sigma * s.sigma;
  const Vec di = scale(s.delta, -f.r2_hpp(r) / (2 * s2) * s.delta_sq());
  return {(f.h(r) * s.sim_direction() + dot(di, s.xg)) / s.nu,
          scale(add(scale(s.sim_direction_grad(), f.h(r)), di), 1 / s.nu)};
}

// SIM with the pseudo-Huber distance, exact (sim.h): with S = sqrt(|Delta|^2 / sigma^4 + c^2),
//   l = [c <Delta, D_q - x_g> / S + c |Delta|^2 / (S + c)] / nu,
//   dS/dx_g = (a_p - a_q) Delta / (sigma^4 S).
Expected sim(const Sample& s, double c) {
  const double s4 = std::pow(s.sigma, 4);
  const double root = std::sqrt(s.delta_sq() / s4 + c * c);
  const Vec droot = scale(s.delta, (kAp - kAq) / (s4 * root));
  const double value = c * s.sim_direction() / root + c * s.delta_sq() / (root + c);
  Vec grad = scale(s.sim_direction_grad(), c / root);
  grad = add(grad, scale(droot, -c * s.sim_direction() / (root * root)));
  grad = add(grad, scale(s.delta_sq_grad(), c / (root + c)));
  grad = add(grad, scale(droot, -c * s.delta_sq() / ((root + c) * (root + c))));
  return {value / s.nu, scale(grad, 1 / s.nu)};
}

// The tensors of the fixture, x_g a leaf.
struct Fixture {
  Tensor x_g;
  GeneratorStep step;
  Fixture() {
    std::vector<double> xg, eps;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 2; ++i) xg.push_back(kXg[n][i]), eps.push_back(kEps[n][i]);
    x_g = from_vector(xg, {2, 2}).set_requires_grad(true);
    const Tensor sigma = from_vector(std::vector<double>{kSigma[0], kSigma[1]}, {2});
    const Tensor x_t = x_g + from_vector(eps, {2, 2}) * sigma.reshape({2, 1});
    const Tensor d_p = x_t * kAp + from_vector(std::vector<double>(kBp.begin(), kBp.end()), {1, 2});
    const Tensor d_q = x_t * kAq + from_vector(std::vector<double>(kBq.begin(), kBq.end()), {1, 2});
    const Tensor logit =
        sum(x_t * from_vector(std::vector<double>(kW.begin(), kW.end()), {1, 2}), {1}) + kBw;
    step = GeneratorStep{x_g, x_t, d_p, d_q, logit, sigma};
  }
};

// Gradient of sum(values) with respect to x_g, as [2][2] doubles.
std::array<Vec, 2> gradient(const Tensor& values, const Tensor& x_g) {
  const std::vector<double> g =
      autograd::grad({sum(values)}, {x_g}, {}, true)[0].to_vector<double>();
  return {Vec{g[0], g[1]}, Vec{g[2], g[3]}};
}

constexpr double kTolerance = 1e-12;

void expect_matches(const Tensor& values, const Tensor& x_g, const Expected (&expected)[2],
                    const std::string& what) {
  ASSERT_TRUE(values.defined()) << what;
  const std::vector<double> v = values.to_vector<double>();
  ASSERT_EQ(v.size(), 2u) << what;
  const auto g = gradient(values, x_g);
  for (int n = 0; n < 2; ++n) {
    EXPECT_NEAR(v[n], expected[n].value, kTolerance) << what << ": value of sample " << n;
    for (int i = 0; i < 2; ++i)
      EXPECT_NEAR(g[n][i], expected[n].grad[i], kTolerance)
          << what << ": d/dx_g[" << n << "][" << i << "]";
  }
}

using PerSample = std::function<Expected(const Sample&)>;

// The method's score loss and GAN term against the reference, and the objective the loop
// minimises (score_scale 100, two elements per sample) with the method's default GAN weight.
void check_method(const std::string& name, const MethodOptions& options, const PerSample& score,
                  double default_gan_weight, bool over_nu = false) {
  const Method method = make_method(name, options);
  EXPECT_DOUBLE_EQ(method.gan_weight, default_gan_weight) << name;
  Fixture f;
  const GeneratorLoss parts = generator_loss(method, f.step, false);
  const Expected expected[2] = {score(Sample(0)), score(Sample(1))};
  expect_matches(parts.score, f.x_g, expected, name + " score");
  const Expected expected_gan[2] = {gan(Sample(0), over_nu), gan(Sample(1), over_nu)};
  if (default_gan_weight > 0) {
    expect_matches(parts.gan, f.x_g, expected_gan, name + " GAN");
  } else {
    EXPECT_FALSE(parts.gan.defined()) << name << " has no GAN term";
  }
  // objective = 100 / 2 * mean_n score_n + w_gan * mean_n gan_n
  const Tensor objective = generator_objective(method, parts, 100.0, 2);
  const auto g = gradient(objective, f.x_g);
  double value = 0;
  for (int n = 0; n < 2; ++n) {
    value += 50 * expected[n].value / 2 + default_gan_weight * expected_gan[n].value / 2;
    for (int i = 0; i < 2; ++i)
      EXPECT_NEAR(g[n][i],
                  25 * expected[n].grad[i] + default_gan_weight / 2 * expected_gan[n].grad[i],
                  kTolerance)
          << name << " objective gradient [" << n << "][" << i << "]";
  }
  EXPECT_NEAR(objective.item(), value, kTolerance) << name << " objective";
}

TEST(GeneratorLoss, TheFixtureIsTheOneWorkedByHand) {
  const Sample s0(0), s1(1);
  EXPECT_NEAR(s0.delta[0], 0.26, 1e-15);
  EXPECT_NEAR(s0.delta[1], -0.59, 1e-15);
  EXPECT_NEAR(s0.logit, 0.78, 1e-15);
  EXPECT_NEAR(s0.nu, 0.35, 1e-15);
  EXPECT_NEAR(s1.logit, -0.12, 1e-15);
  EXPECT_NEAR(s1.nu, 0.72, 1e-15);
  EXPECT_NEAR(sid(s0, 1.2).value, -0.16504 / 0.35, 1e-12);  // -0.471543
}

TEST(GeneratorLoss, SiD) {
  MethodOptions o;
  o.sid_alpha = 1.2;
  check_method(
      "sid", o, [](const Sample& s) { return sid(s, 1.2); }, 0);
  o.sid_alpha = 0.5;  // the exact reverse-KL estimator
  check_method(
      "sid", o, [](const Sample& s) { return sid(s, 0.5); }, 0);
}

TEST(GeneratorLoss, SiDA) {
  check_method(
      "sida", {}, [](const Sample& s) { return sid(s, 1.2); }, 0.01);
}

TEST(GeneratorLoss, SimIsExactWithThePathTerm) {
  for (double c : {0.1, 1.0, 10.0}) {
    MethodOptions o;
    o.sim_c = c;
    check_method(
        "sim", o, [c](const Sample& s) { return sim(s, c); }, 0);
  }
}

TEST(GeneratorLoss, SimTendsToSiDWithHalfAlphaAsCGrows) {
  // c -> infinity: c / S -> 1 and c |Delta|^2 / (S + c) -> |Delta|^2 / 2.
  MethodOptions o;
  o.sim_c = 1e7;
  Fixture f;
  const std::vector<double> v =
      generator_loss(make_method("sim", o), f.step, false).score.to_vector<double>();
  EXPECT_NEAR(v[0], sid(Sample(0), 0.5).value, 1e-9);
  EXPECT_NEAR(v[1], sid(Sample(1), 0.5).value, 1e-9);
}

TEST(GeneratorLoss, DiffInstruct) {
  check_method("diff-instruct", {}, diff_instruct, 0);
  EXPECT_TRUE(make_method("diff-instruct").lognormal_sigma);
}

TEST(GeneratorLoss, DMD) {
  check_method(
      "dmd", {}, [](const Sample& s) { return dmd(s); }, 0);
  const Method m = make_method("dmd");
  EXPECT_DOUBLE_EQ(m.regression_weight, 0.25);
  EXPECT_EQ(m.fake_steps, 1);
  // The regression MSE enters as regression_weight x score_scale x mse.
  Fixture f;
  const GeneratorLoss parts = generator_loss(m, f.step, false);
  const Tensor mse = scalar_tensor(0.5, DType::f64);
  const double without = generator_objective(m, parts, 100.0, 2).item();
  EXPECT_NEAR(generator_objective(m, parts, 100.0, 2, mse).item() - without, 0.25 * 100 * 0.5,
              1e-12);
}

TEST(GeneratorLoss, DMD2) {
  check_method(
      "dmd2", {}, [](const Sample& s) { return dmd(s); }, 0.01);
  EXPECT_EQ(make_method("dmd2").fake_steps, 5);
  EXPECT_DOUBLE_EQ(make_method("dmd2").regression_weight, 0);
}

// The regression term goes with any method when asked for (the toy demo's Uni-Instruct uses it);
// only DMD has it by default.
TEST(GeneratorLoss, RegressionWeightDefaultsAndOverrides) {
  for (const std::string& name : method_names())
    EXPECT_DOUBLE_EQ(make_method(name).regression_weight, name == "dmd" ? 0.25 : 0) << name;
  MethodOptions options;
  options.regression_weight = 0.5;
  EXPECT_DOUBLE_EQ(make_method("uni-instruct", options).regression_weight, 0.5);
  options.regression_weight = 0;
  EXPECT_DOUBLE_EQ(make_method("dmd", options).regression_weight, 0);
  options.regression_weight = NAN;
  EXPECT_THROW(make_method("dmd", options), Error);
}

TEST(GeneratorLoss, FDistillWeightsTheDMDDirectionByTheNormalisedH) {
  // w_n = h(r_n) / mean_m h(r_m), stop-gradient, on the DMD direction.
  for (const auto& [name, f] :
       {std::pair{"jeffreys", kJeffreys}, std::pair{"js", kJensenShannon}}) {
    MethodOptions o;
    o.divergence = name;
    const double h0 = f.h(Sample(0).ratio()), h1 = f.h(Sample(1).ratio());
    const double mean_h = (h0 + h1) / 2;
    Fixture fixture;
    const Method method = make_method("f-distill", o);
    const GeneratorLoss parts = generator_loss(method, fixture.step, false);
    const Expected expected[2] = {dmd(Sample(0), h0 / mean_h), dmd(Sample(1), h1 / mean_h)};
    expect_matches(parts.score, fixture.x_g, expected, std::string("f-distill ") + name);
    const Expected expected_gan[2] = {gan(Sample(0)), gan(Sample(1))};
    expect_matches(parts.gan, fixture.x_g, expected_gan, std::string("f-distill GAN ") + name);
  }
}

TEST(GeneratorLoss, UniInstructThroughTheDiscriminator) {
  MethodOptions o;  // jeffreys by default
  check_method(
      "uni-instruct", o,
      [](const Sample& s) { return uni_instruct_through_discriminator(s, kJeffreys); }, 0.01);
  o.divergence = "js";  // r^2 h'' != 0: the path coefficient's gradient through r
  check_method(
      "uni-instruct", o,
      [](const Sample& s) { return uni_instruct_through_discriminator(s, kJensenShannon); }, 0.01);
}

TEST(GeneratorLoss, UniInstructClosedForm) {
  MethodOptions o;
  o.ratio_gradient = RatioGradient::closed_form;
  for (const auto& [name, f] :
       {std::pair{"jeffreys", kJeffreys}, std::pair{"js", kJensenShannon}}) {
    o.divergence = name;
    const Weights weights = f;
    check_method(
        "uni-instruct", o,
        [weights](const Sample& s) { return uni_instruct_closed_form(s, weights); }, 0.01);
  }
}

TEST(GeneratorLoss, UniInstructOfficial) {
  check_method(
      "uni-instruct-official", {},
      [](const Sample& s) { return uni_instruct_official(s, kOfficialJeffreys); }, 0.01);
  MethodOptions o;
  o.divergence = "js";
  check_method(
      "uni-instruct-official", o,
      [](const Sample& s) { return uni_instruct_official(s, kJensenShannon); }, 0.01);
}

TEST(GeneratorLoss, TheSimOnlyWarmUpIsTheUnweightedSimTermWithoutGan) {
  Fixture f;
  const GeneratorLoss parts = generator_loss(make_method("uni-instruct"), f.step, true);
  Expected expected[2];
  for (int n = 0; n < 2; ++n) {
    const Sample s(n);
    expected[n] = {s.sim_direction() / s.nu, scale(s.sim_direction_grad(), 1 / s.nu)};
  }
  expect_matches(parts.score, f.x_g, expected, "SIM-only warm-up");
  EXPECT_FALSE(parts.gan.defined());
}

TEST(GeneratorLoss, TheGanTermDividedByNuOnRequest) {
  MethodOptions o;
  o.gan_over_nu = true;
  check_method(
      "sida", o, [](const Sample& s) { return sid(s, 1.2); }, 0.01, true);
}

TEST(GeneratorLoss, TheGanTermClampsTheLogitAtTen) {
  // softplus(-clamp(l, -10, 10)): beyond +-10 the term is constant and has no gradient.
  Fixture f;
  const Tensor logit = from_vector(std::vector<double>{12.0, -12.0}, {2}).set_requires_grad(true);
  GeneratorStep step = f.step;
  step.logit = logit;
  const Tensor gan = generator_loss(make_method("sida"), step, false).gan;
  const std::vector<double> v = gan.to_vector<double>();
  EXPECT_NEAR(v[0], std::log1p(std::exp(-10.0)), 1e-15);
  EXPECT_NEAR(v[1], std::log1p(std::exp(10.0)), 1e-12);
  const std::vector<double> g = autograd::grad({sum(gan)}, {logit})[0].to_vector<double>();
  EXPECT_EQ(g[0], 0.0);
  EXPECT_EQ(g[1], 0.0);
}

TEST(GeneratorLoss, TheNormaliserIsAStopGradientMeanAbsoluteError) {
  Fixture f;
  const Tensor nu = sample_normaliser(f.step.x_g, f.step.d_p);
  EXPECT_FALSE(nu.requires_grad());
  const std::vector<double> v = nu.to_vector<double>();
  EXPECT_NEAR(v[0], 0.35, 1e-15);
  EXPECT_NEAR(v[1], 0.72, 1e-15);
  // At least 1e-5 where the generator already matches the teacher.
  EXPECT_DOUBLE_EQ(sample_normaliser(f.step.d_p, f.step.d_p).to_vector<double>()[0], 1e-5);
}

TEST(GeneratorLoss, TheDensityRatioIsTheClampedExponentialOfTheLogit) {
  const Tensor logit =
      from_vector(std::vector<double>{0.5, 9.0, -9.0, -1.0}, {4}).set_requires_grad(true);
  const Tensor r = density_ratio(logit, false);
  const std::vector<double> v = r.to_vector<double>();
  EXPECT_NEAR(v[0], std::exp(0.5), 1e-14);
  EXPECT_NEAR(v[1], 1e3, 1e-9);  // clamped: constant, no gradient
  EXPECT_NEAR(v[2], 1e-3, 1e-15);
  const std::vector<double> g = autograd::grad({sum(r)}, {logit})[0].to_vector<double>();
  EXPECT_NEAR(g[0], std::exp(0.5), 1e-14);  // dr/dlogit = r inside the range
  EXPECT_EQ(g[1], 0.0);
  EXPECT_EQ(g[2], 0.0);
  // Normalised: divided by its stop-gradient batch mean, so dr_i/dlogit_i = r_i / mean.
  const Tensor rn = density_ratio(logit, true);
  const double m = (std::exp(0.5) + 1e3 + 1e-3 + std::exp(-1.0)) / 4;
  EXPECT_NEAR(rn.to_vector<double>()[3], std::exp(-1.0) / m, 1e-14);
  const std::vector<double> gn = autograd::grad({sum(rn)}, {logit})[0].to_vector<double>();
  EXPECT_NEAR(gn[3], std::exp(-1.0) / m, 1e-14);
}

TEST(GeneratorLoss, DefaultsOfEveryMethod) {
  struct Row {
    const char* name;
    double gan_weight;
    int64_t fake_steps;
    bool uses_ratio, lognormal_sigma;
  };
  for (const Row& row :
       {Row{"uni-instruct", 0.01, 1, true, false},
        Row{"uni-instruct-official", 0.01, 1, true, false}, Row{"sid", 0, 1, false, false},
        Row{"sida", 0.01, 1, false, false}, Row{"sim", 0, 1, false, false},
        Row{"diff-instruct", 0, 1, false, true}, Row{"dmd", 0, 1, false, false},
        Row{"dmd2", 0.01, 5, false, false}, Row{"f-distill", 0.01, 1, true, false}}) {
    const Method m = make_method(row.name);
    EXPECT_DOUBLE_EQ(m.gan_weight, row.gan_weight) << row.name;
    EXPECT_EQ(m.fake_steps, row.fake_steps) << row.name;
    EXPECT_EQ(m.uses_ratio, row.uses_ratio) << row.name;
    EXPECT_EQ(m.lognormal_sigma, row.lognormal_sigma) << row.name;
    EXPECT_FALSE(m.gan_over_nu) << row.name;
  }
  EXPECT_EQ(make_method("uni-instruct").divergence.kind(), DivergenceKind::jeffreys);
  EXPECT_EQ(make_method("uni-instruct-official").divergence.kind(),
            DivergenceKind::official_jeffreys);
  EXPECT_EQ(make_method("f-distill").divergence.kind(), DivergenceKind::jensen_shannon);
  EXPECT_DOUBLE_EQ(make_method("sid").sid_alpha, 1.2);
  EXPECT_DOUBLE_EQ(make_method("sim").sim_c, 1.0);
}

}  // namespace
}  // namespace onestep::distill
