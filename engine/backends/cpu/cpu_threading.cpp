// The CPU thread count, shared by OpenMP loops and Eigen's GEMM.

#include <omp.h>

#include <xmmintrin.h>

#include <Eigen/Core>
#include <cstdlib>
#include <mutex>
#include <string>

#include "onestep/engine/error.h"
#include "onestep/engine/threading.h"

namespace onestep {

namespace {

struct ThreadCount {
  std::once_flag once;
  int value = 1;
};

ThreadCount& thread_count() {
  static ThreadCount count;
  return count;
}

// Subnormal floats cost ~100 cycles per operation on x86; tiny gradients and Adam's second
// moments produce them early in training (a toy run spent 30x longer on its first steps).
// Flush them to zero on every thread that runs kernels, as ML frameworks do.
void flush_subnormals_on_this_thread() {
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ | DAZ
#endif
}

void apply(int threads) {
  omp_set_num_threads(threads);
  Eigen::setNbThreads(threads);
  flush_subnormals_on_this_thread();
#pragma omp parallel num_threads(threads)
  flush_subnormals_on_this_thread();
}

}  // namespace

namespace detail {
int parse_thread_count(const char* text) {
  if (text == nullptr || *text == '\0') return omp_get_num_procs();
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  ONESTEP_CHECK(*end == '\0' && value > 0 && value <= 4096,
                "ONESTEP_THREADS must be a positive integer, got '{}'", text);
  return static_cast<int>(value);
}
}  // namespace detail

int num_threads() {
  ThreadCount& count = thread_count();
  std::call_once(count.once, [&] {
    count.value = detail::parse_thread_count(std::getenv("ONESTEP_THREADS"));
    apply(count.value);
  });
  return count.value;
}

void set_num_threads(int threads) {
  ONESTEP_CHECK(threads > 0, "set_num_threads: expected a positive count, got {}", threads);
  num_threads();  // settle the environment default first
  thread_count().value = threads;
  apply(threads);
}

}  // namespace onestep
