// The fused Adam update (adam_update) against its composite (reference::adam_update): every
// option, several steps, f64 and f32, many tensors of awkward sizes (empty, one element, more
// than a chunk), a non-contiguous parameter (which takes the composite), non-finite gradients;
// and that it invalidates saved tensors and refuses mismatched inputs.

#include <gtest/gtest.h>

#include "onestep/engine.h"
#include "testing/adam_settings.h"
#include "testing/gradcheck.h"

namespace onestep {
namespace {

using testing::max_abs_diff;

struct Model {
  std::vector<Tensor> params, exp_avg, exp_avg_sq;
};

// Parameters of the given sizes with matching zero moments; param k of `transposed` is a
// transposed (non-contiguous) view.
Model make_model(const std::vector<Shape>& shapes, DType dtype, uint64_t seed,
                 int64_t transposed = -1) {
  Rng gen(seed);
  Model m;
  for (size_t k = 0; k < shapes.size(); ++k) {
    Tensor p = randn(shapes[k], gen, dtype);
    if (static_cast<int64_t>(k) == transposed) p = p.transpose(0, 1);
    m.params.push_back(p);
    m.exp_avg.push_back(zeros(p.shape(), dtype));
    m.exp_avg_sq.push_back(zeros(p.shape(), dtype));
  }
  return m;
}

Model clone(const Model& m) {
  Model c;
  for (size_t k = 0; k < m.params.size(); ++k) {
    c.params.push_back(m.params[k].clone());
    c.exp_avg.push_back(m.exp_avg[k].clone());
    c.exp_avg_sq.push_back(m.exp_avg_sq[k].clone());
  }
  return c;
}

// `steps` updates with gradients from `seed`, through the fused or the composite path.
void train(Model& m, const AdamHyperparameters& h, int steps, bool fused, uint64_t seed) {
  Rng gen(seed);
  for (int step = 1; step <= steps; ++step) {
    std::vector<AdamParameter> parameters;
    for (size_t k = 0; k < m.params.size(); ++k) {
      const Tensor g = randn(m.params[k].shape(), gen, m.params[k].dtype()) * (0.1 * step);
      parameters.push_back({m.params[k], g, m.exp_avg[k], m.exp_avg_sq[k], step});
    }
    if (fused) {
      adam_update(parameters, h);
    } else {
      reference::adam_update(parameters, h);
    }
  }
}

void expect_same_model(const Model& a, const Model& b, double tol) {
  for (size_t k = 0; k < a.params.size(); ++k) {
    SCOPED_TRACE(fmt::format("parameter {} {}", k, shape_str(a.params[k].shape())));
    EXPECT_LE(max_abs_diff(a.params[k], b.params[k]), tol);
    EXPECT_LE(max_abs_diff(a.exp_avg[k], b.exp_avg[k]), tol);
    EXPECT_LE(max_abs_diff(a.exp_avg_sq[k], b.exp_avg_sq[k]), tol);
  }
}

const std::vector<Shape> kShapes = {{64, 3, 3, 3}, {64}, {0}, {1}, {2 * 16384 + 5}, {7, 9}};

TEST(FusedAdam, MatchesTheCompositeForEveryOption) {
  for (const auto& [name, h] : testing::adam_settings())
    for (DType dtype : {DType::f64, DType::f32}) {
      SCOPED_TRACE(fmt::format("{} {}", name, dtype_name(dtype)));
      const Model start = make_model(kShapes, dtype, 3, /*transposed=*/5);
      Model fused = clone(start), composite = clone(start);
      train(fused, h, 5, true, 9);
      train(composite, h, 5, false, 9);
      // Both compute each element with the same operations in the same precision; a compiler
      // may contract a multiply-add into one rounding, so f32 allows a few ulp.
      expect_same_model(fused, composite, dtype == DType::f64 ? 1e-15 : 2e-6);
      // And the parameters moved.
      EXPECT_GT(max_abs_diff(fused.params[0], start.params[0]), 1e-3);
    }
}

TEST(FusedAdam, UpdatesInPlaceWithoutTemporaries) {
  // The composite allocates four parameter-sized temporaries; the fused kernel none.
  Model m = make_model({{1 << 20}}, DType::f32, 5);
  const Tensor g = ones({1 << 20});
  const std::vector<AdamParameter> parameters = {
      {m.params[0], g, m.exp_avg[0], m.exp_avg_sq[0], 1}};
  const size_t before = memory_stats().allocated_bytes;
  reset_peak_memory();
  adam_update(parameters, {});
  EXPECT_LT(memory_stats().peak_allocated_bytes - before, size_t{1} << 20);
  reset_peak_memory();
  reference::adam_update(parameters, {});
  EXPECT_GE(memory_stats().peak_allocated_bytes - before, size_t{4} << 20);
}

TEST(FusedAdam, NonFiniteGradientsPropagateAsInTheComposite) {
  for (double beta1 : {0.9, 0.0}) {
    SCOPED_TRACE(beta1);
    AdamHyperparameters h;
    h.beta1 = beta1;
    const Tensor g = from_vector<float>({1.0f, NAN, INFINITY, -2.0f}, {4});
    Tensor results[2];
    for (int fused = 0; fused < 2; ++fused) {
      const Tensor p = zeros({4}), m = zeros({4}), v = zeros({4});
      const std::vector<AdamParameter> parameters = {{p, g, m, v, 1}};
      if (fused) {
        adam_update(parameters, h);
      } else {
        reference::adam_update(parameters, h);
      }
      results[fused] = p;
    }
    const std::vector<float> a = results[0].to_vector<float>(), b = results[1].to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(std::isnan(a[i]), std::isnan(b[i])) << i;
      if (!std::isnan(a[i])) {
        EXPECT_EQ(a[i], b[i]) << i;
      }
    }
    EXPECT_TRUE(std::isnan(a[1]));
  }
}

TEST(FusedAdam, InvalidatesTensorsSavedForBackward) {
  const Tensor p = ones({3}).set_requires_grad(true);
  const Tensor y = sum(p * p);  // saves p
  adam_update({{p, ones({3}), zeros({3}), zeros({3}), 1}}, {});
  EXPECT_THROW(y.backward(), Error);
}

TEST(FusedAdam, RefusesMismatchedInputs) {
  const Tensor p = zeros({3});
  EXPECT_THROW(adam_update({{p, zeros({4}), zeros({3}), zeros({3}), 1}}, {}), Error);
  EXPECT_THROW(adam_update({{p, zeros({3}, DType::f64), zeros({3}), zeros({3}), 1}}, {}), Error);
  EXPECT_THROW(adam_update({{p, zeros({3}), Tensor(), zeros({3}), 1}}, {}), Error);
  EXPECT_THROW(adam_update({{p, zeros({3}), zeros({3}), zeros({3}), 0}}, {}), Error);
  EXPECT_THROW(adam_update({{zeros({3}, DType::i64), zeros({3}, DType::i64), zeros({3}, DType::i64),
                             zeros({3}, DType::i64), 1}},
                           {}),
               Error);
  AdamHyperparameters bad;
  bad.beta2 = 1.0;
  EXPECT_THROW(adam_update({{p, zeros({3}), zeros({3}), zeros({3}), 1}}, bad), Error);
  // Every parameter is checked before any is written: a bad second one leaves the first as is.
  EXPECT_THROW(adam_update({{p, ones({3}), zeros({3}), zeros({3}), 1},
                            {zeros({2}), zeros({5}), zeros({2}), zeros({2}), 1}},
                           {}),
               Error);
  EXPECT_EQ(max_abs_diff(p, zeros({3})), 0.0);
}

}  // namespace
}  // namespace onestep
