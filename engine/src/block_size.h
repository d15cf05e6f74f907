#pragma once
// The size classes of the caching allocators (CPU and CUDA): a request is served by a block of
// its rounded size, so blocks freed by one step are found again by the next.

#include <algorithm>
#include <cstddef>

namespace onestep::detail {

// Small blocks to 512 B, larger ones to 1/8 of their power of two: at most 12.5% slack, and few
// distinct classes.
inline size_t caching_block_size(size_t bytes) {
  if (bytes <= 512) return 512;
  size_t power = 1;
  while (power < bytes) power <<= 1;
  const size_t step = std::max<size_t>(512, power / 8);
  return (bytes + step - 1) / step * step;
}

}  // namespace onestep::detail
