#pragma once
// The CUDA backend: one instance per device, each with its own caching allocator, one stream and
// one cuBLAS handle. Every kernel and copy of a device is queued on that one stream, so work runs
// in the order the ops were called and a freed block can be handed out again at once: a later
// kernel that reuses it is queued behind every kernel that used it before. Host transfers
// synchronise the stream.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "../../src/backend.h"
#include "../../src/caching_pool.h"
#include "../../src/dtype_dispatch.h"
#include "cuda_check.h"

namespace onestep::cuda_backend {

// The source of a device's caching pool: cudaMalloc'd memory used on `stream`.
struct DeviceMemory {
  static constexpr const char* kName = "cuda allocator";
  static constexpr const char* kSystemCall = "cudaMalloc";
  cudaStream_t stream;
  // Fill every block handed out with 0xFF bytes (NaN in f32/f64, -1 in i64) so that a kernel
  // that leaves an output element unwritten is caught by tests; ONESTEP_CUDA_POISON=1.
  bool poison;
  void* allocate(size_t bytes);
  void free(void* ptr);
  void before_release();
  void handed_out(void* ptr, size_t bytes);
};

using CachingAllocator = detail::CachingPool<DeviceMemory>;

class CudaBackend final : public backend::Backend {
 public:
  explicit CudaBackend(int device);
  // Never destroyed (see backend::cuda()): tensors with static lifetime may free memory after
  // the CUDA runtime has shut down.

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  MemoryStats memory_stats() override;
  void reset_peak_memory() override;
  void empty_cache() override;

#include "../../src/backend_kernels.inc"

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  bool tf32() const { return tf32_; }
  int sm_count() const { return sm_count_; }
  // Makes this backend's device current for the calling thread (kernels launch on the current
  // device); every method calls it first.
  void activate() const;

  // Scratch memory from the caching allocator, returned on scope exit.
  class Scratch {
   public:
    Scratch(CudaBackend& backend, size_t bytes);
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <class T>
    T* get() const {
      return static_cast<T*>(ptr_);
    }

   private:
    CudaBackend& backend_;
    size_t bytes_;
    void* ptr_;
  };

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  bool tf32_ = false;
  int sm_count_ = 1;
  std::unique_ptr<CachingAllocator> allocator_;
};

using backend::dispatch_dtype;
using backend::dispatch_dtypes;
using backend::dispatch_floating;
using backend::typed;

}  // namespace onestep::cuda_backend
