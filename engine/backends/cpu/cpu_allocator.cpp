#include <cstdlib>
#include <new>

#include "../../src/block_size.h"
#include "cpu_backend.h"

namespace onestep::cpu {

namespace {
constexpr size_t kAlignment = 64;  // a cache line, and full AVX-512 vectors
}

size_t CachingAllocator::round_size(size_t bytes) {
  return detail::caching_block_size(bytes);
}

CachingAllocator::~CachingAllocator() {
  empty_cache();
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* ptr = nullptr;
  auto it = free_blocks_.find(size);
  if (it != free_blocks_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    stats_.cached_bytes -= size;
  } else {
    ptr = std::aligned_alloc(kAlignment, size);
    if (ptr == nullptr) {
      // Give the cache back and try once more before reporting.
      for (auto& [block_size, blocks] : free_blocks_)
        for (void* block : blocks) std::free(block);
      free_blocks_.clear();
      stats_.cached_bytes = 0;
      ptr = std::aligned_alloc(kAlignment, size);
    }
    ONESTEP_CHECK(ptr != nullptr, "cpu allocator: out of memory allocating {} bytes ({} held)",
                  size, stats_.allocated_bytes);
    ++stats_.system_allocations;
  }
  stats_.allocated_bytes += size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  free_blocks_[size].push_back(ptr);
  stats_.allocated_bytes -= size;
  stats_.cached_bytes += size;
}

MemoryStats CachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, blocks] : free_blocks_)
    for (void* block : blocks) std::free(block);
  free_blocks_.clear();
  stats_.cached_bytes = 0;
}

}  // namespace onestep::cpu
