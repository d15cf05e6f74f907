#pragma once
// Statistics of the caching allocator of a device.

#include <cstddef>

#include "onestep/engine/device.h"

namespace onestep {

struct MemoryStats {
  size_t allocated_bytes = 0;       // held by live tensors now
  size_t peak_allocated_bytes = 0;  // maximum of allocated_bytes since the last reset
  size_t cached_bytes = 0;          // freed blocks kept for reuse
  size_t system_allocations = 0;    // blocks obtained from the system (cache misses)
};

MemoryStats memory_stats(Device device = Device::cpu());
void reset_peak_memory(Device device = Device::cpu());
// Returns cached blocks to the system.
void empty_cache(Device device = Device::cpu());

}  // namespace onestep
