#pragma once
// Splitting work across the CPU threads (OpenMP). Bodies must not throw: validate before.

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "onestep/engine/threading.h"

namespace onestep::cpu {

// Calls body(begin, end) on disjoint chunks covering [begin, end), in parallel when there are
// at least two chunks of `grain` elements and we are not already inside a parallel region.
template <class Body>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const Body& body) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), max_chunks));
  if (threads <= 1 || omp_in_parallel()) {
    body(begin, end);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t chunk_begin = begin + n * t / nt, chunk_end = begin + n * (t + 1) / nt;
    if (chunk_begin < chunk_end) body(chunk_begin, chunk_end);
  }
}

}  // namespace onestep::cpu
