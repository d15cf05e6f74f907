// index_select and index_add on the CUDA backend against the CPU backend, for every dtype and
// for the three ways an index dim sits in a tensor (first, middle, last), with repeated indices.

#include "../../../engine/src/backend.h"
#include "cuda_test_util.h"

namespace onestep {
namespace {

using cuda_testing::compare;
using cuda_testing::gpu;
using cuda_testing::poisoned;

struct IndexCase {
  int64_t outer, n, inner;
  std::vector<int64_t> index;
};

std::vector<IndexCase> index_cases() {
  return {{1, 10, 1, {9, 0, 3, 3, 7}},
          {3, 5, 4, {4, 0, 4, 2}},
          {6, 4, 1, {3, 1}},
          {1, 1000, 64, {17, 999, 17, 0, 500, 17, 17, 3}},
          {2, 3, 5, {}}};
}

Tensor values(const Shape& shape, DType dtype, Rng& gen) {
  return dtype == DType::i64 ? randint(-1000, 1000, shape, gen)
                             : (randn(shape, gen, DType::f64) * 10.0).to(dtype);
}

// Calls check(c, dtype, index) for every case in every dtype, index being c's on the CPU.
template <class Check>
void for_each_case(const Check& check) {
  for (const IndexCase& c : index_cases()) {
    for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
      SCOPED_TRACE(fmt::format("{} outer {} n {}", dtype_name(dtype), c.outer, c.n));
      check(c, dtype, from_vector<int64_t>(c.index, {static_cast<int64_t>(c.index.size())}));
    }
  }
}

TEST(CudaIndex, IndexSelectMatchesTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  for_each_case([](const IndexCase& c, DType dtype, const Tensor& index) {
    Rng gen(41);
    const int64_t k = index.numel();
    const Tensor x = values({c.outer, c.n, c.inner}, dtype, gen);
    const Tensor expected = empty({c.outer, k, c.inner}, dtype);
    backend::cpu().index_select(x, index, expected, c.outer, c.n, c.inner);
    const Tensor out = poisoned({c.outer, k, c.inner}, dtype);
    backend::cuda(0).index_select(x.to(gpu()), index.to(gpu()), out, c.outer, c.n, c.inner);
    EXPECT_EQ(cuda_testing::compare_exact(out, expected), "");
  });
}

TEST(CudaIndex, IndexAddAccumulatesRepeatedIndicesIntoExistingValues) {
  ONESTEP_REQUIRE_CUDA();
  for_each_case([](const IndexCase& c, DType dtype, const Tensor& index) {
    Rng gen(42);
    const Tensor src = values({c.outer, index.numel(), c.inner}, dtype, gen);
    const Tensor start = values({c.outer, c.n, c.inner}, dtype, gen);
    const Tensor expected = start.clone();
    backend::cpu().index_add(src, index, expected, c.outer, c.n, c.inner);
    const Tensor out = start.to(gpu());
    backend::cuda(0).index_add(src.to(gpu()), index.to(gpu()), out, c.outer, c.n, c.inner);
    // Atomics add repeated indices in any order: floats may differ in the last bits.
    const double rtol = dtype == DType::f32 ? 1e-6 : dtype == DType::f64 ? 1e-14 : 0.0;
    EXPECT_EQ(compare(out, expected, rtol * 100, rtol), "");
  });
}

TEST(CudaIndex, IndexSelectOpAndItsGradientMatchTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(43);
  const Tensor x = randn({4, 6, 3}, gen, DType::f64).set_requires_grad(true);
  const Tensor xg = x.detach().to(gpu()).set_requires_grad(true);
  const Tensor index = from_vector<int64_t>({5, 0, 5, 2, 5}, {5});
  const Tensor cot = randn({4, 5, 3}, gen, DType::f64);
  index_select(x, 1, index).backward(cot);
  index_select(xg, 1, index.to(gpu())).backward(cot.to(gpu()));
  EXPECT_EQ(compare(xg.grad(), x.grad(), 1e-14, 1e-14), "");
  // Out-of-range indices are refused on the host, before any kernel reads memory.
  EXPECT_THROW(index_select(xg, 1, from_vector<int64_t>({6}, {1}).to(gpu())), Error);
}

}  // namespace
}  // namespace onestep
