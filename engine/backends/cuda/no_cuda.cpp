// The CUDA seam of a build without -DONESTEP_CUDA=ON: CUDA is never available, and asking for a
// CUDA tensor is a clear error rather than a crash.

#include "../../src/backend.h"
#include "onestep/engine/cuda.h"

namespace onestep {

namespace cuda {
bool available() {
  return false;
}
std::string unavailable_reason() {
  return "this onestep was built without CUDA (-DONESTEP_CUDA=ON)";
}
bool compiled() {
  return false;
}
bool emulated() {
  return false;
}
void* stream_handle(Device device) {
  ONESTEP_FAIL(
      "cuda::stream_handle({}): this onestep was built without CUDA; rebuild with "
      "-DONESTEP_CUDA=ON",
      device.str());
}
EventTimer::EventTimer(Device device) : device_(device) {
  ONESTEP_FAIL(
      "cuda::EventTimer: this onestep was built without CUDA; rebuild with -DONESTEP_CUDA=ON");
}
EventTimer::~EventTimer() = default;
void EventTimer::start() {}
double EventTimer::stop_ms() {
  return 0;
}
}  // namespace cuda

namespace backend {
Backend& cuda(int index) {
  ONESTEP_FAIL(
      "device cuda:{} requested, but this onestep was built without CUDA; rebuild with "
      "-DONESTEP_CUDA=ON",
      index);
}
}  // namespace backend

}  // namespace onestep
