// Device memory for a CUDA backend's caching pool (caching_pool.h). One stream per device makes
// reuse of a freed block safe without events: a kernel that gets it is queued behind every
// kernel that used it before (see cuda_backend.h).

#include "cuda_backend.h"

namespace onestep::cuda_backend {

void* DeviceMemory::allocate(size_t bytes) {
  void* ptr = nullptr;
  const cudaError_t status = cudaMalloc(&ptr, bytes);
  if (status == cudaSuccess) return ptr;
  cudaGetLastError();  // out of memory is not sticky: clear it for the pool's retry
  if (status == cudaErrorMemoryAllocation) return nullptr;
  ONESTEP_FAIL("cuda allocator: cudaMalloc of {} bytes failed: {}: {}", bytes,
               cudaGetErrorName(status), cudaGetErrorString(status));
}

void DeviceMemory::free(void* ptr) {
  ONESTEP_CUDA_CHECK(cudaFree(ptr));
}

void DeviceMemory::before_release() {
  // Kernels queued before a block was freed may still use it.
  ONESTEP_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void DeviceMemory::handed_out(void* ptr, size_t bytes) {
  if (poison) ONESTEP_CUDA_CHECK(cudaMemsetAsync(ptr, 0xFF, bytes, stream));
}

}  // namespace onestep::cuda_backend
