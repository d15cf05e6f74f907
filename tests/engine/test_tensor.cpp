// Tensor basics: creation, dtypes, host transfer, printing, external memory.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "testing/gradcheck.h"

namespace onestep {
namespace {

// The arange contract both backends keep (the CUDA tests compare them bit for bit): element i is
// fma(i, step, start), rounded once, whether or not the compiler would contract start + i * step.
TEST(Tensor, ArangeIsOneFusedMultiplyAddPerElement) {
  const double start = -2.5, step = 0.01;
  const int64_t n = 100001;
  const std::vector<double> values = arange(start, start + n * step, step, DType::f64)
                                         .to_vector<double>();
  ASSERT_GE(values.size(), static_cast<size_t>(n) - 1);
  int64_t differs_from_two_roundings = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double fused = std::fma(static_cast<double>(i), step, start);
    ASSERT_EQ(values[i], fused) << "element " << i;
    volatile double product = static_cast<double>(i) * step;  // volatile: no contraction
    differs_from_two_roundings += fused != start + product;
  }
  EXPECT_GT(differs_from_two_roundings, 0) << "the case no longer tells the two contracts apart";
}

TEST(Tensor, CreationFillsValuesWithTheRequestedDtype) {
  const Tensor z = zeros({2, 3});
  EXPECT_EQ(z.dtype(), DType::f32);
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(ones({4}, DType::f64).to_vector<double>(), std::vector<double>(4, 1.0));
  EXPECT_EQ(full({2}, -7, DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{-7, -7}));
  EXPECT_EQ(arange(0, 5, 1, DType::i64).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25, DType::f64).to_vector<double>(),
            (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(5, 0, -2, DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{5, 3, 1}));
  EXPECT_EQ(scalar_tensor(2.5).dim(), 0);
  EXPECT_EQ(scalar_tensor(2.5).item(), 2.5);
  const Tensor like = full_like(zeros({3}, DType::f64), 4.0);
  EXPECT_EQ(like.dtype(), DType::f64);
  EXPECT_EQ(like.to_vector<double>(), (std::vector<double>{4, 4, 4}));
}

TEST(Tensor, FromVectorRoundTripsAndChecksTheCount) {
  const Tensor t = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_THROW(from_vector<float>({1, 2, 3}, {2, 2}), Error);
  EXPECT_THROW(empty({2, -1}), Error);
}

TEST(Tensor, DtypeConversionRoundsTowardZeroForIntegers) {
  const Tensor t = from_vector<double>({1.9, -1.9, 3.0}, {3});
  EXPECT_EQ(t.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{1, -1, 3}));
  EXPECT_EQ(t.to(DType::f32).dtype(), DType::f32);
  EXPECT_FLOAT_EQ(t.to(DType::f32).to_vector<float>()[0], 1.9f);
}

TEST(Tensor, ItemNeedsExactlyOneElement) {
  EXPECT_EQ(full({1, 1}, 3.0).item(), 3.0);
  EXPECT_THROW(zeros({2}).item(), Error);
}

TEST(Tensor, EmptyTensorsFlowThroughOps) {
  const Tensor e = zeros({0, 3});
  EXPECT_EQ((e + 1.0).shape(), (Shape{0, 3}));
  EXPECT_EQ(sum(e).item(), 0.0);
  EXPECT_EQ(sum(e, {0}).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(matmul(zeros({2, 0}), zeros({0, 3})).to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_THROW(amax(e, {0}), Error);  // no maximum of nothing
}

TEST(Tensor, CloneIsIndependentAndContiguousIsANoOpWhenPossible) {
  const Tensor t = from_vector<float>({1, 2, 3, 4}, {2, 2});
  const Tensor c = t.clone();
  c.fill_(0.0);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_TRUE(t.contiguous().shares_storage(t));
  const Tensor transposed = t.transpose(0, 1);
  EXPECT_FALSE(transposed.is_contiguous());
  EXPECT_FALSE(transposed.contiguous().shares_storage(t));
  EXPECT_EQ(transposed.contiguous().to_vector<float>(), (std::vector<float>{1, 3, 2, 4}));
}

TEST(Tensor, PrintingShowsShapeDtypeAndValues) {
  const std::string text = from_vector<int64_t>({1, 2, 3, 4}, {2, 2}).str();
  EXPECT_NE(text.find("shape=[2, 2]"), std::string::npos) << text;
  EXPECT_NE(text.find("dtype=i64"), std::string::npos) << text;
  EXPECT_NE(text.find("[[1, 2],\n [3, 4]]"), std::string::npos) << text;
  // Big tensors are summarised, not dumped.
  Rng gen(1);
  EXPECT_LT(randn({100, 100}, gen).str().size(), 1000u);
  EXPECT_EQ(Tensor().str(), "Tensor(undefined)");
}

TEST(Tensor, FromBlobWrapsExternalMemoryAndCallsTheDeleter) {
  std::vector<float> memory = {1, 2, 3, 4, 5, 6};
  bool deleted = false;
  {
    const Tensor t = Tensor::from_blob(memory.data(), {2, 3}, DType::f32, Device::cpu(),
                                       [&](void*) { deleted = true; });
    EXPECT_EQ(sum(t).item(), 21.0);
    t.mul_(2.0);
    EXPECT_EQ(memory[5], 12.0f);
    EXPECT_FALSE(deleted);
  }
  EXPECT_TRUE(deleted);
}

TEST(Tensor, DeviceNamesParse) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:3"), Device::cuda(3));
  EXPECT_THROW(parse_device("gpu"), Error);
  EXPECT_THROW(parse_device("cuda:x"), Error);
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
}

TEST(Tensor, InPlaceOpsWriteThroughAndBumpTheVersion) {
  const Tensor t = zeros({2, 3});
  const uint64_t before = t.impl()->storage->version;
  t.slice(1, 1, 3).fill_(2.0);
  t.add_(ones({3}), 0.5);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0.5, 2.5, 2.5, 0.5, 2.5, 2.5}));
  t.mul_(2.0);
  t.select(0, 1).copy_(from_vector<double>({7, 8, 9}, {3}));  // converts the dtype
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 5, 5, 7, 8, 9}));
  EXPECT_GT(t.impl()->storage->version, before);
}

TEST(Tensor, ScalarArithmeticKeepsTheDtype) {
  const Tensor t = from_vector<double>({1, 2}, {2});
  EXPECT_EQ((t * 2.0 + 1.0).to_vector<double>(), (std::vector<double>{3, 5}));
  EXPECT_EQ((1.0 - t).to_vector<double>(), (std::vector<double>{0, -1}));
  EXPECT_EQ((2.0 / t).to_vector<double>(), (std::vector<double>{2, 1}));
  EXPECT_EQ((t / 4.0).dtype(), DType::f64);
  const Tensor i = from_vector<int64_t>({1, 2}, {2});
  EXPECT_EQ((i * 3.0 - 1.0).to_vector<int64_t>(), (std::vector<int64_t>{2, 5}));
  EXPECT_THROW(i * 0.5, Error);  // not representable in i64
}

TEST(Tensor, ClampOfIntegersRoundsFractionalBoundsInward) {
  const Tensor i = from_vector<int64_t>({-3, -2, -1, 0, 1, 2, 3}, {7});
  EXPECT_EQ(clamp(i, -1.5, 1.5).to_vector<int64_t>(),
            (std::vector<int64_t>{-1, -1, -1, 0, 1, 1, 1}));
  EXPECT_EQ(clamp(i, -2.5, -1.5).to_vector<int64_t>(),
            (std::vector<int64_t>{-2, -2, -2, -2, -2, -2, -2}));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(clamp(i, -inf, 0.0).to_vector<int64_t>(),
            (std::vector<int64_t>{-3, -2, -1, 0, 0, 0, 0}));
  EXPECT_EQ(clamp(i, 1.0, 1e30).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1, 1, 1, 2, 3}));
}

TEST(Tensor, ComparisonsAndPredicatesGiveZeroOrOne) {
  const Tensor t = from_vector<float>({-1, 0, 2, std::nanf(""), INFINITY}, {5});
  EXPECT_EQ(isfinite(t).to_vector<float>(), (std::vector<float>{1, 1, 1, 0, 0}));
  EXPECT_EQ(gt(t, 0.0).to_vector<float>(), (std::vector<float>{0, 0, 1, 0, 1}));
  EXPECT_EQ(sign(from_vector<float>({-3, 0, 2}, {3})).to_vector<float>(),
            (std::vector<float>{-1, 0, 1}));
  EXPECT_EQ(le(from_vector<float>({1, 2}, {2}), from_vector<float>({2, 2}, {2})).to_vector<float>(),
            (std::vector<float>{1, 1}));
}

TEST(Tensor, MaxPropagatesNaN) {
  const Tensor t = from_vector<float>({1, std::nanf(""), 3}, {3});
  EXPECT_TRUE(std::isnan(amax(t).item()));
}

TEST(Threading, ThreadCountComesFromTheEnvironmentOrEveryCore) {
  EXPECT_EQ(detail::parse_thread_count("3"), 3);
  EXPECT_GE(detail::parse_thread_count(nullptr), 1);
  EXPECT_GE(detail::parse_thread_count(""), 1);
  EXPECT_THROW(detail::parse_thread_count("0"), Error);
  EXPECT_THROW(detail::parse_thread_count("two"), Error);
  EXPECT_THROW(detail::parse_thread_count("4x"), Error);
  const int before = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  EXPECT_THROW(set_num_threads(0), Error);
}

TEST(Memory, TheCachingAllocatorReusesBlocks) {
  { Tensor warm = empty({1000, 100}); }
  const size_t misses = memory_stats().system_allocations;
  for (int i = 0; i < 20; ++i) {
    const Tensor t = empty({1000, 100});
    EXPECT_GE(memory_stats().allocated_bytes, 400000u);
  }
  EXPECT_EQ(memory_stats().system_allocations, misses);
  reset_peak_memory();
  {
    const Tensor big = empty({1 << 20});
    EXPECT_GE(memory_stats().peak_allocated_bytes, size_t{4} << 20);
  }
  empty_cache();
  EXPECT_EQ(memory_stats().cached_bytes, 0u);
}

}  // namespace
}  // namespace onestep
