// Host memory for the CPU backend's caching pool (caching_pool.h).

#include <cstdlib>

#include "cpu_backend.h"

namespace onestep::cpu_backend {

namespace {
constexpr size_t kAlignment = 64;  // a cache line, and full AVX-512 vectors
}

void* HostMemory::allocate(size_t bytes) {
  return std::aligned_alloc(kAlignment, bytes);  // bytes: a block size, a multiple of 512
}

void HostMemory::free(void* ptr) {
  std::free(ptr);
}

}  // namespace onestep::cpu_backend
