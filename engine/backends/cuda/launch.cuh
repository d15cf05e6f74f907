#pragma once
// The one place a kernel is launched. ONESTEP_LAUNCH(grid, block, shared_bytes, stream,
// kernel)(args...) is kernel<<<grid, block, shared_bytes, stream>>>(args...) followed by
// check_launch naming the kernel; in a -DONESTEP_CUDA_EMULATION=ON build it runs the kernel on
// the host through the CUDA emulator (engine/backends/cuda_emulator) instead. A template kernel
// is named with its template arguments, since a pointer to it is taken before the call.
//
// Shared memory comes from dynamic_shared_memory<T>() (the launch's shared_bytes as T[]), which
// the emulator checks for out-of-bounds accesses and for races between barriers.

#include <cstddef>
#include <utility>

#include "cuda_check.h"

namespace onestep::cuda_backend {

template <class... Params>
class KernelLaunch {
 public:
  KernelLaunch(const char* name, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
               void (*kernel)(Params...))
      : name_(name),
        grid_(grid),
        block_(block),
        shared_bytes_(shared_bytes),
        stream_(stream),
        kernel_(kernel) {}

  template <class... Args>
  void operator()(Args&&... args) const {
#ifdef ONESTEP_CUDA_EMULATION
    cuda_emulator::launch(name_, kernel_, grid_, block_, shared_bytes_, stream_,
                          std::forward<Args>(args)...);
#else
    kernel_<<<grid_, block_, shared_bytes_, stream_>>>(std::forward<Args>(args)...);
#endif
    check_launch(name_);
  }

 private:
  const char* name_;
  dim3 grid_, block_;
  size_t shared_bytes_;
  cudaStream_t stream_;
  void (*kernel_)(Params...);
};

template <class... Params>
KernelLaunch<Params...> make_launch(const char* name, dim3 grid, dim3 block, size_t shared_bytes,
                                    cudaStream_t stream, void (*kernel)(Params...)) {
  return KernelLaunch<Params...>(name, grid, block, shared_bytes, stream, kernel);
}

#ifdef ONESTEP_CUDA_EMULATION
using cuda_emulator::dynamic_shared_memory;
#else
template <class T>
__device__ __forceinline__ T* dynamic_shared_memory() {
  extern __shared__ __align__(16) unsigned char onestep_dynamic_shared[];
  return reinterpret_cast<T*>(onestep_dynamic_shared);
}
#endif

}  // namespace onestep::cuda_backend

#define ONESTEP_LAUNCH(grid, block, shared_bytes, stream, ...)                           \
  ::onestep::cuda_backend::make_launch(#__VA_ARGS__, grid, block, shared_bytes, stream, \
                                       __VA_ARGS__)
