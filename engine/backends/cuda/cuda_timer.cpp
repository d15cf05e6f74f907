// cuda::EventTimer: CUDA events recorded on the device's own stream, so the time covers exactly
// the work queued between start() and stop_ms(), with no host synchronisation in between.

#include "../../src/backend.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "onestep/engine/cuda.h"

namespace onestep::cuda {

namespace {
cuda_backend::CudaBackend& backend_of(Device device) {
  ONESTEP_CHECK(device.is_cuda(), "cuda::EventTimer: {} is not a CUDA device", device.str());
  return static_cast<cuda_backend::CudaBackend&>(backend::cuda(device.index));
}
}  // namespace

EventTimer::EventTimer(Device device) : device_(device) {
  backend_of(device_).activate();
  cudaEvent_t start = nullptr, stop = nullptr;
  ONESTEP_CUDA_CHECK(cudaEventCreate(&start));
  ONESTEP_CUDA_CHECK(cudaEventCreate(&stop));
  start_ = start;
  stop_ = stop;
}

EventTimer::~EventTimer() {
  // No check: destructors must not throw.
  if (start_) cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  if (stop_) cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

void EventTimer::start() {
  cuda_backend::CudaBackend& b = backend_of(device_);
  b.activate();
  ONESTEP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(start_), b.stream()));
}

double EventTimer::stop_ms() {
  cuda_backend::CudaBackend& b = backend_of(device_);
  b.activate();
  ONESTEP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(stop_), b.stream()));
  ONESTEP_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)));
  float ms = 0;
  ONESTEP_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), static_cast<cudaEvent_t>(stop_)));
  return ms;
}

}  // namespace onestep::cuda
