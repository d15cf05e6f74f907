// The caching device allocator: freed blocks are reused by size, the statistics follow
// allocations, frees, peaks and cache releases, and poisoning really fills new blocks.

#include <cmath>

#include "cuda_test_util.h"

namespace onestep {
namespace {

using cuda_testing::gpu;

TEST(CudaMemory, FreedBlocksAreReusedWithoutNewDeviceAllocations) {
  ONESTEP_REQUIRE_CUDA();
  empty_cache(gpu());
  const MemoryStats before = memory_stats(gpu());
  void* first_ptr = nullptr;
  {
    const Tensor t = empty({1 << 18}, DType::f32, gpu());  // 1 MiB
    first_ptr = t.raw_data();
    const MemoryStats held = memory_stats(gpu());
    EXPECT_EQ(held.allocated_bytes, before.allocated_bytes + (size_t{1} << 20));
    EXPECT_EQ(held.system_allocations, before.system_allocations + 1);
  }
  const MemoryStats freed = memory_stats(gpu());
  EXPECT_EQ(freed.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(freed.cached_bytes, before.cached_bytes + (size_t{1} << 20));
  // Same size class (within 1/8 of the power of two): the cached block comes back.
  const Tensor again = empty({(1 << 18) - 100}, DType::f32, gpu());
  EXPECT_EQ(again.raw_data(), first_ptr);
  const MemoryStats reused = memory_stats(gpu());
  EXPECT_EQ(reused.system_allocations, freed.system_allocations);
  EXPECT_EQ(reused.cached_bytes, before.cached_bytes);
}

TEST(CudaMemory, PeakFollowsTheHighestAllocationSinceTheLastReset) {
  ONESTEP_REQUIRE_CUDA();
  const size_t base = memory_stats(gpu()).allocated_bytes;
  reset_peak_memory(gpu());
  {
    const Tensor a = empty({1 << 20}, DType::f32, gpu());  // 4 MiB
    const Tensor b = empty({1 << 19}, DType::f64, gpu());  // 4 MiB
    EXPECT_EQ(memory_stats(gpu()).peak_allocated_bytes, base + (size_t{8} << 20));
  }
  EXPECT_EQ(memory_stats(gpu()).peak_allocated_bytes, base + (size_t{8} << 20));
  reset_peak_memory(gpu());
  EXPECT_EQ(memory_stats(gpu()).peak_allocated_bytes, base);
  // Device memory is not counted on the CPU, and the reverse.
  const size_t cpu_before = memory_stats(Device::cpu()).allocated_bytes;
  const Tensor c = empty({1 << 20}, DType::f32, gpu());
  EXPECT_EQ(memory_stats(Device::cpu()).allocated_bytes, cpu_before);
}

TEST(CudaMemory, EmptyCacheReleasesEveryCachedBlock) {
  ONESTEP_REQUIRE_CUDA();
  { const Tensor t = empty({3, 1000, 1000}, DType::f32, gpu()); }
  EXPECT_GT(memory_stats(gpu()).cached_bytes, 0u);
  empty_cache(gpu());
  EXPECT_EQ(memory_stats(gpu()).cached_bytes, 0u);
  // A fresh allocation after the release works and is poisoned like every other.
  const size_t system_before = memory_stats(gpu()).system_allocations;
  const Tensor t = empty({3, 1000, 1000}, DType::f32, gpu());
  EXPECT_EQ(memory_stats(gpu()).system_allocations, system_before + 1);
  EXPECT_TRUE(std::isnan(amax(t).item()));
}

TEST(CudaMemory, PoisonedAllocationsReadAsNaNAndMinusOne) {
  ONESTEP_REQUIRE_CUDA();
  // cuda_test_util.cpp sets ONESTEP_CUDA_POISON=1, which the tests' poison checks rely on.
  { const Tensor used = full({4096}, 3.0, DType::f64, gpu()); }
  const Tensor reused = empty({4096}, DType::f64, gpu());  // the block just freed
  const std::vector<double> values = reused.to_vector<double>();
  for (double v : values) ASSERT_TRUE(std::isnan(v));
  const Tensor ints = empty({100}, DType::i64, gpu());
  for (int64_t v : ints.to_vector<int64_t>()) ASSERT_EQ(v, cuda_testing::kPoisonI64);
}

TEST(CudaMemory, OutOfMemoryIsAClearErrorAndTheDeviceStaysUsable) {
  ONESTEP_REQUIRE_CUDA();
  // 2^46 bytes (64 TiB) exceeds any GPU.
  try {
    empty({int64_t{1} << 44}, DType::f32, gpu());
    FAIL() << "allocation of 64 TiB succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaMalloc"), std::string::npos) << e.what();
  }
  EXPECT_EQ(full({3}, 2.0, DType::f32, gpu()).to_vector<float>(), std::vector<float>(3, 2.0f));
}

}  // namespace
}  // namespace onestep
