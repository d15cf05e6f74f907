#pragma once
// What the emulated runtime, launcher and cuBLAS share: the calling thread's last error and the
// registry of device allocations and streams.

#include <cstddef>
#include <mutex>
#include <set>

#include "cuda_runtime.h"

namespace cuda_emulator::detail {

// The live handles of one kind (streams, events), which exist to be validated: a handle the
// library did not create, or one already destroyed, is an error there as on a GPU.
template <class Handle>
class HandleSet {
 public:
  // A new live handle, its fields initialised from `fields` before another thread can see it.
  template <class... Fields>
  Handle* create(Fields... fields) {
    auto* handle = new Handle{fields...};
    std::lock_guard<std::mutex> lock(mutex_);
    live_.insert(handle);
    return handle;
  }
  // False for a handle that is not live (null, never created or destroyed before).
  bool destroy(Handle* handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (handle == nullptr || live_.erase(handle) == 0) return false;
    delete handle;
    return true;
  }
  bool contains(const Handle* handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    return handle != nullptr && live_.count(handle) != 0;
  }

 private:
  std::mutex mutex_;
  std::set<const Handle*> live_;
};

// One status code of a library with the two texts its GetName/GetString functions return.
template <class Status>
struct StatusText {
  Status status;
  const char* name;
  const char* text;
};

// The entry of `status` in `table`, or `unknown` when it has none.
template <class Status, size_t N>
const StatusText<Status>& status_text(const StatusText<Status> (&table)[N], Status status,
                                      const StatusText<Status>& unknown) {
  for (const StatusText<Status>& entry : table)
    if (entry.status == status) return entry;
  return unknown;
}

// Records `error` as the calling thread's last error and returns it.
cudaError_t fail(cudaError_t error);

bool valid_stream(cudaStream_t stream);
// True when [ptr, ptr + bytes) lies inside one live device allocation.
bool in_device_allocation(const void* ptr, size_t bytes);

}  // namespace cuda_emulator::detail
