#pragma once
// CPU thread count: ONESTEP_THREADS when set (a positive integer), else every core.

namespace onestep {

int num_threads();
void set_num_threads(int threads);

namespace detail {
// The value of ONESTEP_THREADS: null or empty means every core; anything but a positive integer
// is an error.
int parse_thread_count(const char* text);
}  // namespace detail

}  // namespace onestep
