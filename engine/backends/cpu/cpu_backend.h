#pragma once
// The CPU backend: Eigen expressions and templated loops, threads from our pool (thread_pool.h).

#include <vector>

#include "../../src/backend.h"
#include "../../src/caching_pool.h"
#include "../../src/dtype_dispatch.h"

namespace onestep::cpu_backend {

// The source of the CPU's caching pool: 64-byte-aligned host memory.
struct HostMemory {
  static constexpr const char* kName = "cpu allocator";
  static constexpr const char* kSystemCall = "aligned_alloc";
  void* allocate(size_t bytes);
  void free(void* ptr);
  void before_release() {}
  void handed_out(void* /*ptr*/, size_t /*bytes*/) {}
};

using CachingAllocator = detail::CachingPool<HostMemory>;

class CpuBackend final : public backend::Backend {
 public:
  void* allocate(size_t bytes) override { return allocator_.allocate(bytes); }
  void deallocate(void* ptr, size_t bytes) override { allocator_.deallocate(ptr, bytes); }
  MemoryStats memory_stats() override { return allocator_.stats(); }
  void reset_peak_memory() override { allocator_.reset_peak(); }
  void empty_cache() override { allocator_.empty_cache(); }

#include "../../src/backend_kernels.inc"
  bool conv2d_forward_with_bias(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                const Tensor& out, backend::ConvGeometry g) override;

 private:
  // bias: contiguous [O] or undefined
  void conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out,
              backend::ConvGeometry g);

  CachingAllocator allocator_{HostMemory{}};
};

using backend::dispatch_dtype;
using backend::dispatch_dtypes;
using backend::dispatch_floating;
using backend::typed;

}  // namespace onestep::cpu_backend
