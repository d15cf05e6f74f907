#pragma once
// Splitting work across the CPU threads (thread_pool.h). Bodies must not throw: validate before.

#include <algorithm>
#include <cstdint>

#include "onestep/engine/threading.h"
#include "thread_pool.h"

namespace onestep::cpu_backend {

// Chunks per thread in a region: enough that a thread the OS deschedules leaves its share to
// the others instead of stalling the op, few enough that taking a chunk stays cheap.
constexpr int64_t kChunksPerThread = 4;

// Ranges of fine-grained work (grain >= this) start at multiples of this many elements, so a
// vectorised body splits its elements into vector and tail steps the same way whatever the
// thread count, and its results do not change with it.
constexpr int64_t kRangeAlignment = 64;

// Calls body(begin, end) on disjoint ranges covering [begin, end), in parallel when there are
// at least two ranges of `grain` elements and we are not already inside a parallel region.
template <class Body>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const Body& body) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), max_chunks));
  if (threads <= 1 || in_parallel_region()) {
    body(begin, end);
    return;
  }
  const int64_t chunks = std::min<int64_t>(max_chunks, threads * kChunksPerThread);
  const int64_t alignment = grain >= kRangeAlignment ? kRangeAlignment : 1;
  auto start = [&](int64_t chunk) {
    return chunk == chunks ? n : n * chunk / chunks / alignment * alignment;
  };
  run_chunks(chunks, threads, [&](int64_t chunk, int) {
    const int64_t lo = start(chunk), hi = start(chunk + 1);
    if (lo < hi) body(begin + lo, begin + hi);
  });
}

}  // namespace onestep::cpu_backend
