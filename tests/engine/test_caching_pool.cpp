// The caching pool both backends' allocators are (engine/src/caching_pool.h), with a source of
// memory that counts its calls and can run out: reuse by size class, statistics, and out of
// memory answered by releasing the cache and retrying once, then by a clear error.

#include <gtest/gtest.h>

#include <cstdlib>

#include "caching_pool.h"
#include "testing/expect_error.h"

namespace onestep::detail {
namespace {

struct Counts {
  int allocations = 0, frees = 0, releases = 0, handed_out = 0;
  size_t capacity = size_t{1} << 20;  // bytes the source can have out at once
  size_t in_use = 0;
};

struct CountingMemory {
  static constexpr const char* kName = "test allocator";
  static constexpr const char* kSystemCall = "test_alloc";
  Counts* counts;
  void* allocate(size_t bytes) {
    if (counts->in_use + bytes > counts->capacity) return nullptr;
    ++counts->allocations;
    counts->in_use += bytes;
    void* p = std::malloc(bytes + sizeof(size_t));
    *static_cast<size_t*>(p) = bytes;
    return static_cast<size_t*>(p) + 1;
  }
  void free(void* ptr) {
    ++counts->frees;
    size_t* base = static_cast<size_t*>(ptr) - 1;
    counts->in_use -= *base;
    std::free(base);
  }
  void before_release() { ++counts->releases; }
  void handed_out(void*, size_t) { ++counts->handed_out; }
};

TEST(CachingPool, SizeClasses) {
  EXPECT_EQ(caching_block_size(1), 512u);
  EXPECT_EQ(caching_block_size(512), 512u);
  EXPECT_EQ(caching_block_size(513), 1024u);
  EXPECT_EQ(caching_block_size(4097), 5120u);  // eighths of 8192
  EXPECT_EQ(caching_block_size(1 << 20), size_t{1} << 20);
}

TEST(CachingPool, ReusesFreedBlocksOfTheSameClass) {
  Counts counts;
  {
    CachingPool<CountingMemory> pool(CountingMemory{&counts});
    void* a = pool.allocate(1000);
    pool.deallocate(a, 1000);
    a = pool.allocate(900);  // the same 1024-byte class: the same block
    EXPECT_EQ(counts.allocations, 1);
    void* b = pool.allocate(3000);  // another class: from the source
    EXPECT_EQ(counts.allocations, 2);
    const MemoryStats s = pool.stats();
    EXPECT_EQ(s.allocated_bytes, 1024u + 3072u);
    EXPECT_EQ(s.cached_bytes, 0u);
    EXPECT_EQ(s.system_allocations, 2u);
    pool.deallocate(b, 3000);
    EXPECT_EQ(pool.stats().cached_bytes, 3072u);
    EXPECT_EQ(pool.stats().peak_allocated_bytes, 1024u + 3072u);
    pool.reset_peak();
    EXPECT_EQ(pool.stats().peak_allocated_bytes, 1024u);
    EXPECT_EQ(counts.handed_out, 3);
    pool.empty_cache();
    EXPECT_EQ(counts.frees, 1);
    EXPECT_EQ(pool.stats().cached_bytes, 0u);
    pool.deallocate(a, 900);
    pool.deallocate(pool.allocate(900), 900);
  }
  EXPECT_EQ(counts.frees, counts.allocations);  // the destructor gave the cache back
}

TEST(CachingPool, OutOfMemoryReleasesTheCacheAndRetriesOnce) {
  Counts counts;
  counts.capacity = 4096;
  CachingPool<CountingMemory> pool(CountingMemory{&counts});
  pool.deallocate(pool.allocate(2048), 2048);  // 2 KiB cached, of the 4 KiB the source has
  void* big = pool.allocate(3072);             // fits only once the cache is released
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(counts.releases, 1);
  EXPECT_EQ(pool.stats().cached_bytes, 0u);
  testing::expect_error([&] { pool.allocate(2048); },
                        {"test allocator: test_alloc of 2048 bytes failed: out of memory (3072 "
                         "bytes held by tensors"});
  pool.deallocate(big, 3072);
  EXPECT_EQ(pool.stats().allocated_bytes, 0u);
}

}  // namespace
}  // namespace onestep::detail
