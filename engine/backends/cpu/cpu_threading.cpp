// The CPU thread count: the size of the backend's thread pool (thread_pool.h).

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "onestep/engine/error.h"
#include "onestep/engine/threading.h"
#include "thread_pool.h"

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

// The cores this process may run on (taskset, cgroup cpusets), not all the machine has.
int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void apply(int threads) {
  cpu_backend::flush_subnormals_on_this_thread();
  cpu_backend::resize_thread_pool(threads);
}

}  // namespace

namespace detail {
int parse_thread_count(const char* text) {
  if (text == nullptr || *text == '\0') return available_cores();
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
