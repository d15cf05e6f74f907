#pragma once
// Every CUDA runtime and cuBLAS call goes through these checks, so a failure becomes an
// onestep::Error that names the call, where it was made and CUDA's own description, instead of
// a silently wrong tensor. Kernel launches are checked with check_launch(); errors
// raised while a kernel runs surface at the next synchronising call, which is checked too.
// A failed runtime call also leaves its error as the thread's "last error"; the check clears it
// (cudaGetLastError), or the next kernel launch's check would report it as its own.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "onestep/engine/error.h"

#define ONESTEP_CUDA_CHECK(call)                                                  \
  do {                                                                            \
    const cudaError_t onestep_cuda_status_ = (call);                              \
    if (onestep_cuda_status_ != cudaSuccess) {                                    \
      cudaGetLastError();                                                         \
      ONESTEP_FAIL("CUDA error in {} ({}:{}): {}: {}", #call, __FILE__, __LINE__, \
                   cudaGetErrorName(onestep_cuda_status_),                        \
                   cudaGetErrorString(onestep_cuda_status_));                     \
    }                                                                             \
  } while (0)

namespace onestep::cuda_backend {
// After a <<<...>>> launch: a bad configuration (grid too large, too much shared memory) is
// reported here; cudaGetLastError also clears it so that it cannot be blamed on a later call.
inline void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    ONESTEP_FAIL("CUDA error launching kernel {}: {}: {}", kernel, cudaGetErrorName(status),
                 cudaGetErrorString(status));
}
}  // namespace onestep::cuda_backend

#define ONESTEP_CUBLAS_CHECK(call)                                                  \
  do {                                                                              \
    const cublasStatus_t onestep_cublas_status_ = (call);                           \
    if (onestep_cublas_status_ != CUBLAS_STATUS_SUCCESS)                            \
      ONESTEP_FAIL("cuBLAS error in {} ({}:{}): {}: {}", #call, __FILE__, __LINE__, \
                   cublasGetStatusName(onestep_cublas_status_),                     \
                   cublasGetStatusString(onestep_cublas_status_));                  \
  } while (0)
