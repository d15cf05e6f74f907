#pragma once
// The CPU backend's own worker threads. Work is handed out in chunks that whichever thread is
// running takes next, so a thread the OS has descheduled (another process on the same cores)
// holds up at most the chunk it is in, never a fixed share of every op; and workers that find
// no work spin only briefly before they sleep, so they do not burn the time a competing process
// (or our own descheduled thread) needs. With OpenMP's static split and long spin-waits a
// training step ran 3x slower beside one busy process on two cores (docs/PERFORMANCE.md).

#include <cstdint>

namespace onestep::cpu_backend {

// task(context, chunk, participant) for every chunk in [0, chunks), on the calling thread and
// the pool's workers; participant is current_participant() of the thread running the chunk.
// Returns when every chunk is done. participants <= 1 runs the chunks on the calling thread, as
// does a call from inside a task or while another thread is running a region. Tasks must not
// throw.
using ChunkTask = void (*)(const void* context, int64_t chunk, int participant);
void run_chunks(int64_t chunks, int participants, ChunkTask task, const void* context);

// The same with a callable: task(chunk, participant).
template <class Task>
void run_chunks(int64_t chunks, int participants, const Task& task) {
  run_chunks(
      chunks, participants,
      [](const void* context, int64_t chunk, int participant) {
        (*static_cast<const Task*>(context))(chunk, participant);
      },
      &task);
}

// True on a pool worker and on a thread inside run_chunks.
bool in_parallel_region();

// The calling thread's index among the threads that run chunks: 1 .. workers on the pool's
// workers, 0 on any other thread. A thread runs one chunk at a time, so scratch indexed by it
// (sized num_threads()) is never shared by two running chunks of one region.
int current_participant();

// Sizes the pool for `threads` participants (threads - 1 workers; the caller is the other).
// Not concurrent with run_chunks.
void resize_thread_pool(int threads);

// How long an idle thread spins before it sleeps, in microseconds: ONESTEP_SPIN_US when set
// (0 sleeps at once), else the default measured in docs/PERFORMANCE.md.
int spin_microseconds();

// Subnormal floats cost ~100 cycles per operation on x86; tiny gradients and Adam's second
// moments produce them early in training (a toy run spent 30x longer on its first steps).
// Every thread that runs kernels flushes them to zero, as ML frameworks do.
void flush_subnormals_on_this_thread();

namespace detail {
int parse_spin_microseconds(const char* text);
}  // namespace detail

}  // namespace onestep::cpu_backend
