// The caching device allocator: blocks are never split, only kept by rounded size and handed out
// again. One stream per device makes reuse safe without events (see cuda_backend.h).

#include <algorithm>

#include "../../src/block_size.h"
#include "cuda_backend.h"

namespace onestep::cuda_backend {

CachingAllocator::CachingAllocator(cudaStream_t stream, bool poison)
    : stream_(stream), poison_(poison) {}

size_t CachingAllocator::round_size(size_t bytes) {
  return detail::caching_block_size(bytes);
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
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      // Out of memory is not sticky: clear it, give the cache back and try once more.
      cudaGetLastError();
      release_cached_locked();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      ONESTEP_FAIL(
          "cuda allocator: cudaMalloc of {} bytes failed: {}: {} ({} bytes held by tensors, peak "
          "{})",
          size, cudaGetErrorName(status), cudaGetErrorString(status), stats_.allocated_bytes,
          stats_.peak_allocated_bytes);
    }
    ++stats_.system_allocations;
  }
  if (poison_) ONESTEP_CUDA_CHECK(cudaMemsetAsync(ptr, 0xFF, size, stream_));
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
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  if (free_blocks_.empty()) return;
  // Kernels queued before a block was freed may still use it.
  ONESTEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (auto& [size, blocks] : free_blocks_)
    for (void* block : blocks) ONESTEP_CUDA_CHECK(cudaFree(block));
  free_blocks_.clear();
  stats_.cached_bytes = 0;
}

}  // namespace onestep::cuda_backend
