// The runtime API on host memory: devices from the environment, allocations in a registry (so
// that copies, memsets and GEMM operands are checked against them), streams and events that
// exist only to be validated, since every call completes before it returns.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "state.h"

struct CUstream_st {
  unsigned flags;
};
struct CUevent_st {
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
};

namespace cuda_emulator::detail {

namespace {

ONESTEP_EMULATOR_TLS cudaError_t last_error = cudaSuccess;
ONESTEP_EMULATOR_TLS int current_device = 0;

int env_int(const char* name, int fallback, int low, int high) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < low || value > high) return fallback;
  return static_cast<int>(value);
}

HandleSet<CUstream_st>& streams() {
  static auto* set = new HandleSet<CUstream_st>;  // never destroyed, as the registry
  return *set;
}

HandleSet<CUevent_st>& events() {
  static auto* set = new HandleSet<CUevent_st>;
  return *set;
}

struct Registry {
  std::mutex mutex;
  std::map<const unsigned char*, size_t> allocations;  // start -> bytes
  size_t allocated = 0;
};

// Never destroyed: tensors with static lifetime free device memory after main returns.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

constexpr size_t kAlignment = 256;  // as cudaMalloc's

int device_count() {
  static const int count = env_int("ONESTEP_CUDA_EMULATOR_DEVICES", 1, 0, 64);
  return count;
}

int sm_count() {
  static const int count = env_int("ONESTEP_CUDA_EMULATOR_SMS", 4, 1, 1024);
  return count;
}

size_t memory_capacity() {
  static const size_t bytes =
      static_cast<size_t>(env_int("ONESTEP_CUDA_EMULATOR_MEMORY_MB", 16384, 1, 1 << 20)) << 20;
  return bytes;
}

}  // namespace

cudaError_t fail(cudaError_t error) {
  last_error = error;
  return error;
}

bool valid_stream(cudaStream_t stream) {
  return stream == nullptr || streams().contains(stream);  // null: the legacy default stream
}

bool in_device_allocation(const void* ptr, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(ptr);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.allocations.upper_bound(p);
  if (it == r.allocations.begin()) return false;
  --it;
  const size_t offset = static_cast<size_t>(p - it->first);
  return offset <= it->second && bytes <= it->second - offset;
}

}  // namespace cuda_emulator::detail

using namespace cuda_emulator::detail;

namespace {
// Name and text as the CUDA runtime gives them.
constexpr StatusText<cudaError_t> kErrorTexts[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration",
     "invalid configuration argument"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
};
constexpr StatusText<cudaError_t> kUnknownError = {cudaSuccess, "cudaErrorUnknown",
                                                   "unrecognized error code"};
}  // namespace

const char* cudaGetErrorName(cudaError_t error) {
  return status_text(kErrorTexts, error, kUnknownError).name;
}

const char* cudaGetErrorString(cudaError_t error) {
  return status_text(kErrorTexts, error, kUnknownError).text;
}

cudaError_t cudaGetLastError() {
  const cudaError_t error = last_error;
  last_error = cudaSuccess;
  return error;
}

cudaError_t cudaPeekAtLastError() {
  return last_error;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return fail(cudaErrorInvalidValue);
  *count = device_count();
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return fail(cudaErrorInvalidValue);
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (value == nullptr) return fail(cudaErrorInvalidValue);
  if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
  if (attribute != cudaDevAttrMultiProcessorCount) return fail(cudaErrorInvalidValue);
  *value = sm_count();
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (bytes > memory_capacity() - r.allocated) return fail(cudaErrorMemoryAllocation);
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  auto* block = static_cast<unsigned char*>(std::aligned_alloc(kAlignment, rounded));
  if (block == nullptr) return fail(cudaErrorMemoryAllocation);
  // Fresh device memory holds whatever was there: 0xFF bytes (NaN, -1) make a read of an
  // element no kernel wrote visible.
  std::memset(block, 0xFF, rounded);
  r.allocations[block] = bytes;
  r.allocated += bytes;
  *ptr = block;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.allocations.find(static_cast<unsigned char*>(ptr));
  if (it == r.allocations.end()) return fail(cudaErrorInvalidValue);
  r.allocated -= it->second;
  r.allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (free_bytes == nullptr || total_bytes == nullptr) return fail(cudaErrorInvalidValue);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  *total_bytes = memory_capacity();
  *free_bytes = memory_capacity() - r.allocated;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return fail(cudaErrorInvalidValue);
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return fail(cudaErrorInvalidValue);
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dst_device && !in_device_allocation(dst, bytes)) return fail(cudaErrorInvalidValue);
  if (src_device && !in_device_allocation(src, bytes)) return fail(cudaErrorInvalidValue);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!in_device_allocation(ptr, bytes)) return fail(cudaErrorInvalidValue);
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (stream == nullptr || flags > cudaStreamNonBlocking) return fail(cudaErrorInvalidValue);
  *stream = streams().create(flags);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  return streams().destroy(stream) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return valid_stream(stream) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

namespace {
bool valid_event(cudaEvent_t event) {
  return events().contains(event);
}
}  // namespace

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (event == nullptr) return fail(cudaErrorInvalidValue);
  *event = events().create();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  return events().destroy(event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!valid_event(event) || !valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  event->recorded = true;
  event->time = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return valid_event(event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (ms == nullptr) return fail(cudaErrorInvalidValue);
  if (!valid_event(start) || !valid_event(end)) return fail(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}
