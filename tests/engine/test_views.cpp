// Views share storage; reshape copies only when strides forbid a view; broadcasting follows
// NumPy; views feed ops correctly.

#include <gtest/gtest.h>

#include "testing/gradcheck.h"

namespace onestep {
namespace {

Tensor iota(const Shape& shape, DType dtype = DType::f64) {
  return arange(0, static_cast<double>(shape_numel(shape)), 1, dtype).reshape(shape);
}

TEST(Views, ReshapeIsAViewWhenStridesAllowAndACopyOtherwise) {
  const Tensor t = iota({2, 3, 4});
  EXPECT_TRUE(t.reshape({6, 4}).shares_storage(t));
  EXPECT_TRUE(t.reshape({2, -1}).shares_storage(t));
  EXPECT_EQ(t.reshape({2, -1}).shape(), (Shape{2, 12}));
  const Tensor p = t.permute({2, 0, 1});
  EXPECT_TRUE(p.reshape({4, 6}).shares_storage(t));  // the last two dims still merge
  EXPECT_FALSE(p.reshape({8, 3}).shares_storage(t));
  EXPECT_EQ(p.reshape({-1}).to_vector<double>()[1], 4.0);
  EXPECT_THROW(p.view({24}), Error);
  EXPECT_THROW(t.reshape({5, -1}), Error);
  EXPECT_THROW(t.reshape({-1, -1}), Error);
  // A slice of a contiguous tensor can still be viewed with merged dims.
  EXPECT_TRUE(t.slice(0, 1, 2).view({3, 4}).shares_storage(t));
}

TEST(Views, SliceFollowsPythonSemantics) {
  const Tensor t = iota({10});
  EXPECT_EQ(t.slice(0, 2, 8, 3).to_vector<double>(), (std::vector<double>{2, 5}));
  EXPECT_EQ(t.slice(0, -3, 100).to_vector<double>(), (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(t.slice(0, 5, 2).numel(), 0);
  EXPECT_EQ(t.select(0, -1).item(), 9.0);
  EXPECT_THROW(t.select(0, 10), Error);
  EXPECT_THROW(t.slice(0, 0, 5, 0), Error);
}

TEST(Views, WritesThroughAViewReachTheBase) {
  const Tensor t = zeros({3, 4});
  t.transpose(0, 1).slice(0, 1, 2).fill_(5.0);  // column 1
  EXPECT_EQ(sum(t, {0}).to_vector<float>(), (std::vector<float>{0, 15, 0, 0}));
}

TEST(Views, ExpandUsesStrideZeroAndRefusesInPlaceWrites) {
  const Tensor t = iota({3, 1});
  const Tensor e = t.expand({2, 3, 4});
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(e.strides()[2], 0);
  EXPECT_EQ(sum(e).item(), 2 * 4 * (0 + 1 + 2));
  EXPECT_THROW(e.fill_(1.0), Error);
  EXPECT_THROW(t.expand({3, 2, 2}), Error);
}

TEST(Views, PermuteChecksItsOrder) {
  const Tensor t = iota({2, 3});
  EXPECT_THROW(t.permute({0, 0}), Error);
  EXPECT_THROW(t.permute({0}), Error);
  EXPECT_EQ(t.permute({1, 0}).to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(t.unsqueeze(0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_THROW(t.squeeze(0), Error);
  EXPECT_EQ(iota({2, 3, 4}).flatten(1).shape(), (Shape{2, 12}));
}

TEST(Broadcasting, ShapesCombineByNumPyRules) {
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}, "t"), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({}, {5}, "t"), (Shape{5}));
  EXPECT_EQ(broadcast_shapes({0, 1}, {1, 3}, "t"), (Shape{0, 3}));
  EXPECT_THROW(broadcast_shapes({2, 3}, {3, 2}, "t"), Error);
}

TEST(Broadcasting, ValuesMatchAnExplicitLoop) {
  const Tensor a = iota({2, 1, 3});
  const Tensor b = iota({4, 1}) * 10.0;
  const Tensor c = a + b;
  ASSERT_EQ(c.shape(), (Shape{2, 4, 3}));
  const auto values = c.to_vector<double>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) EXPECT_EQ(values[(i * 4 + j) * 3 + k], (i * 3 + k) + 10.0 * j);
  const Tensor w =
      where(from_vector<int64_t>({1, 0, 1}, {3}), iota({2, 3}), scalar_tensor(-1, DType::f64));
  EXPECT_EQ(w.to_vector<double>(), (std::vector<double>{0, -1, 2, 3, -1, 5}));
}

TEST(Broadcasting, SumToInvertsBroadcasting) {
  const Tensor g = ones({2, 4, 3}, DType::f64);
  EXPECT_EQ(sum_to(g, {4, 1}).to_vector<double>(), std::vector<double>(4, 6.0));
  EXPECT_EQ(sum_to(g, {}).item(), 24.0);
  EXPECT_THROW(sum_to(g, {5, 1}), Error);
}

// Every op family fed a non-contiguous view gives what it gives on a contiguous copy (the op
// table checks the differentiable ops; this covers the big, multi-threaded kernel paths).
TEST(Views, LargeStridedOperandsTakeTheGeneralPaths) {
  Rng gen(5);
  const Tensor base = randn({64, 200, 8}, gen);
  const Tensor view = base.permute({2, 0, 1}).slice(2, 1, 200, 3);  // [8, 64, 67]
  const Tensor copy = view.contiguous();
  ASSERT_FALSE(view.is_contiguous());
  // Scalar std::exp on strided runs vs Eigen's vectorised exp on contiguous ones: ulp-level.
  EXPECT_LE(testing::max_abs_diff(exp(view), exp(copy)), 1e-5);
  EXPECT_EQ(testing::max_abs_diff(view * view.select(0, 0), copy * copy.select(0, 0)), 0.0);
  EXPECT_LE(testing::max_abs_diff(sum(view, {1}), sum(copy, {1})), 1e-4);
  EXPECT_LE(testing::max_abs_diff(amax(view, {0, 2}), amax(copy, {0, 2})), 0.0);
  EXPECT_LE(
      testing::max_abs_diff(matmul(view, view.transpose(1, 2)), matmul(copy, copy.transpose(1, 2))),
      1e-3);
  const Tensor image = base.reshape({8, 8, 40, 40}).permute({1, 0, 3, 2});
  const Tensor weight = randn({4, 8, 3, 3}, gen);
  EXPECT_LE(testing::max_abs_diff(conv2d(image, weight, Tensor(), 1, 1),
                                  conv2d(image.contiguous(), weight, Tensor(), 1, 1)),
            1e-4);
}

}  // namespace
}  // namespace onestep
