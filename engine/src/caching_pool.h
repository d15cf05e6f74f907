#pragma once
// The caching allocator of every backend: freed blocks are kept by rounded size and handed out
// again, because the system allocators are slow (a fresh CPU page costs ~12 us on first touch;
// cudaMalloc and cudaFree synchronise the device) and training allocates the same sizes every
// step. Blocks are never split. A backend supplies the memory through a Source:
//
//   void* allocate(size_t bytes);   // nullptr when out of memory; throws on any other failure
//   void free(void* ptr);
//   void before_release();          // before cached blocks go back (CUDA: wait for the stream)
//   void handed_out(void* ptr, size_t bytes);  // every block given to a caller (CUDA: poison)
//   static constexpr const char* kName;        // "cpu allocator", for errors
//   static constexpr const char* kSystemCall;  // "aligned_alloc", for errors

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "onestep/engine/error.h"
#include "onestep/engine/memory.h"

namespace onestep::detail {

// The size classes: small blocks to 512 B, larger ones to 1/8 of their power of two (at most
// 12.5 % slack, and few distinct classes), so blocks freed by one step are found again by the
// next.
inline size_t caching_block_size(size_t bytes) {
  if (bytes <= 512) return 512;
  size_t power = 1;
  while (power < bytes) power <<= 1;
  const size_t step = std::max<size_t>(512, power / 8);
  return (bytes + step - 1) / step * step;
}

template <class Source>
class CachingPool {
 public:
  explicit CachingPool(Source source) : source_(std::move(source)) {}
  ~CachingPool() { empty_cache(); }
  CachingPool(const CachingPool&) = delete;
  CachingPool& operator=(const CachingPool&) = delete;

  void* allocate(size_t bytes) {
    const size_t size = caching_block_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* ptr = nullptr;
    auto it = free_blocks_.find(size);
    if (it != free_blocks_.end() && !it->second.empty()) {
      ptr = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= size;
    } else {
      ptr = source_.allocate(size);
      if (ptr == nullptr) {  // give the cache back and try once more before reporting
        release_cached_locked();
        ptr = source_.allocate(size);
      }
      ONESTEP_CHECK(ptr != nullptr,
                    "{}: {} of {} bytes failed: out of memory ({} bytes held by tensors, peak {})",
                    Source::kName, Source::kSystemCall, size, stats_.allocated_bytes,
                    stats_.peak_allocated_bytes);
      ++stats_.system_allocations;
    }
    source_.handed_out(ptr, size);
    stats_.allocated_bytes += size;
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    return ptr;
  }

  void deallocate(void* ptr, size_t bytes) {
    if (ptr == nullptr) return;
    const size_t size = caching_block_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_blocks_[size].push_back(ptr);
    stats_.allocated_bytes -= size;
    stats_.cached_bytes += size;
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

 private:
  void release_cached_locked() {
    if (free_blocks_.empty()) return;
    source_.before_release();
    for (auto& [size, blocks] : free_blocks_)
      for (void* block : blocks) source_.free(block);
    free_blocks_.clear();
    stats_.cached_bytes = 0;
  }

  Source source_;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_blocks_;
  MemoryStats stats_;
};

}  // namespace onestep::detail
