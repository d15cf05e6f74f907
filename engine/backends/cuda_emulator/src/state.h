#pragma once
// What the emulated runtime, launcher and cuBLAS share: the calling thread's last error and the
// registry of device allocations and streams.

#include <cstddef>

#include "cuda_runtime.h"

namespace cuda_emulator::detail {

// Records `error` as the calling thread's last error and returns it.
cudaError_t fail(cudaError_t error);

bool valid_stream(cudaStream_t stream);
// True when [ptr, ptr + bytes) lies inside one live device allocation.
bool in_device_allocation(const void* ptr, size_t bytes);

}  // namespace cuda_emulator::detail
