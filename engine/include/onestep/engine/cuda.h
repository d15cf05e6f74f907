#pragma once
// The CUDA seam. In a build without -DONESTEP_CUDA=ON, available() is false and CUDA tensors
// cannot be created.

#include <string>

#include "onestep/engine/device.h"

namespace onestep::cuda {

// True when the build has CUDA and a usable device and driver are present; any CUDA error
// (no driver, no device) maps to false.
bool available();
// Why available() is false ("" when it is true): no driver, no device, or a build without CUDA.
std::string unavailable_reason();
bool compiled();  // true in a -DONESTEP_CUDA=ON or -DONESTEP_CUDA_EMULATION=ON build
// True in a -DONESTEP_CUDA_EMULATION=ON build: device cuda is the CUDA backend's kernels run on
// the host by the CUDA emulator, for testing them without a GPU (docs/ENGINE.md).
bool emulated();
// The cudaStream_t on which every op of `device` is queued, for a library that queues its own
// work in order with onestep's (NCCL's all-reduce of gradients). Throws without CUDA.
void* stream_handle(Device device);

// Device time of the work queued on a device's stream between start() and stop_ms(), measured
// with CUDA events (as torch.cuda.Event does); stop_ms() waits for that work. Throws without
// CUDA.
class EventTimer {
 public:
  explicit EventTimer(Device device);
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start();
  double stop_ms();

 private:
  Device device_;
  void* start_ = nullptr;  // cudaEvent_t
  void* stop_ = nullptr;
};

}  // namespace onestep::cuda
