// The divergence table (distill/src/divergence.cpp): each formula is consistent with f by
// finite differences (h = r^2 f'', h - r h', r^2 h''), the tensor and scalar forms agree, and
// every name parses back to its divergence.

#include <gtest/gtest.h>

#include "onestep/distill/divergence.h"
#include "onestep/engine.h"

namespace onestep::distill {
namespace {

std::vector<Divergence> all_divergences() {
  std::vector<Divergence> v;
  for (const std::string& name : divergence_names()) v.push_back(parse_divergence(name, 1.5));
  v.push_back(parse_divergence("alpha", -0.5));
  return v;
}

// Central differences of step e in log r (relative steps keep small r accurate).
double derivative(const std::function<double(double)>& g, double r, double e = 1e-4) {
  return (g(r * (1 + e)) - g(r * (1 - e))) / (2 * r * e);
}
double second_derivative(const std::function<double(double)>& g, double r, double e = 1e-4) {
  const double d = r * e;
  return (g(r + d) - 2 * g(r) + g(r - d)) / (d * d);
}

TEST(Divergence, EveryFormulaFollowsFromF) {
  for (const Divergence& div : all_divergences()) {
    SCOPED_TRACE(div.name());
    auto f = [&](double r) { return div.f(r); };
    auto h = [&](double r) { return div.h(r); };
    for (double r : {0.3, 1.0, 2.7}) {
      SCOPED_TRACE(r);
      EXPECT_NEAR(f(1.0), 0.0, 1e-15);  // f(1) = 0: a divergence of equal densities is 0
      EXPECT_NEAR(div.h(r), r * r * second_derivative(f, r), 2e-5 * (1 + std::abs(div.h(r))));
      EXPECT_NEAR(div.h_minus_r_hprime(r), div.h(r) - r * derivative(h, r),
                  1e-6 * (1 + std::abs(div.h(r))));
      EXPECT_NEAR(div.r2_hsecond(r), r * r * second_derivative(h, r),
                  2e-5 * (1 + std::abs(div.h(r))));
    }
  }
}

TEST(Divergence, TensorAndScalarFormsAgree) {
  const std::vector<double> ratios = {0.05, 0.3, 1.0, 2.7, 40.0};
  const Tensor r = from_vector<double>(ratios, {5});
  for (const Divergence& div : all_divergences()) {
    SCOPED_TRACE(div.name());
    const std::vector<double> h = div.h(r).to_vector<double>();
    const std::vector<double> p = div.h_minus_r_hprime(r).to_vector<double>();
    const std::vector<double> q = div.r2_hsecond(r).to_vector<double>();
    const std::vector<double> f = div.f(r).to_vector<double>();
    for (size_t i = 0; i < ratios.size(); ++i) {
      const double x = ratios[i];
      EXPECT_NEAR(h[i], div.h(x), 1e-14 * (1 + std::abs(h[i])));
      EXPECT_NEAR(p[i], div.h_minus_r_hprime(x), 1e-14 * (1 + std::abs(p[i])));
      EXPECT_NEAR(q[i], div.r2_hsecond(x), 1e-14 * (1 + std::abs(q[i])));
      EXPECT_NEAR(f[i], div.f(x), 1e-14 * (1 + std::abs(f[i])));
    }
  }
}

TEST(Divergence, NamesParseBackAndAliasesAreAccepted) {
  for (const std::string& name : divergence_names()) {
    if (name == "alpha") continue;  // named with its parameter
    EXPECT_EQ(parse_divergence(name).name(), name);
  }
  EXPECT_EQ(parse_divergence("alpha", 0.5).name(), "alpha(0.5)");
  EXPECT_EQ(parse_divergence("rkl").kind(), DivergenceKind::reverse_kl);
  EXPECT_EQ(parse_divergence("fkl").kind(), DivergenceKind::forward_kl);
  EXPECT_EQ(parse_divergence("jensen-shannon").kind(), DivergenceKind::jensen_shannon);
  EXPECT_EQ(parse_divergence("pearson-chi2").kind(), DivergenceKind::pearson_chi2);
  EXPECT_THROW(parse_divergence("kl"), Error);
  EXPECT_THROW(parse_divergence("alpha", 1.0), Error);
}

}  // namespace
}  // namespace onestep::distill
