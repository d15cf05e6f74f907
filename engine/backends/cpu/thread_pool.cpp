// Chunked parallel regions on persistent workers that spin briefly, then sleep.
//
// One region is live at a time. Its state is one 64-bit ticket: the region's generation, the
// next chunk to take and the chunk count. A thread takes a chunk by a compare-and-swap on the
// ticket, so a worker that wakes late (after the region ended, or during the next one) can never
// take a chunk of a region it did not see published; and the region's task and context, read
// after a successful take, cannot change while that chunk is outstanding.

#include "thread_pool.h"

#if defined(__SSE__)
#include <immintrin.h>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "onestep/engine/error.h"

namespace onestep::cpu_backend {

namespace {

// Spinning 50 us covers the gap between two ops of a training step (the next region usually
// starts within a few microseconds), so an unloaded machine rarely pays a wake-up; beside a
// competing process a thread gives its core away after 50 us instead of a whole time slice.
constexpr int kDefaultSpinMicroseconds = 50;

constexpr int kNextShift = 16;
constexpr uint64_t kCountMask = 0xffff;  // chunk count and next chunk: 16 bits each
constexpr int kGenerationShift = 32;

uint32_t generation_of(uint64_t ticket) { return static_cast<uint32_t>(ticket >> kGenerationShift); }
int64_t next_of(uint64_t ticket) { return static_cast<int64_t>((ticket >> kNextShift) & kCountMask); }
int64_t count_of(uint64_t ticket) { return static_cast<int64_t>(ticket & kCountMask); }
uint64_t make_ticket(uint32_t generation, int64_t count) {
  return (static_cast<uint64_t>(generation) << kGenerationShift) | static_cast<uint64_t>(count);
}

thread_local bool inside_region = false;
thread_local int this_participant = 0;

void run_serially(int64_t chunks, ChunkTask task, const void* context) {
  const bool was_inside = inside_region;
  inside_region = true;
  for (int64_t c = 0; c < chunks; ++c) task(context, c, this_participant);
  inside_region = was_inside;
}

// Spins until ready() or the spin budget is spent; true if ready.
template <class Ready>
bool spin_until(const Ready& ready) {
  if (ready()) return true;
  const auto budget = std::chrono::microseconds(spin_microseconds());
  if (budget.count() == 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
#if defined(__SSE2__)
      _mm_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

class Pool {
 public:
  void run(int64_t chunks, ChunkTask task, const void* context) {
    std::unique_lock<std::mutex> region(region_mutex_, std::try_to_lock);
    if (!region.owns_lock() || workers_.empty()) {
      run_serially(chunks, task, context);
      return;
    }
    task_.store(task, std::memory_order_relaxed);
    context_.store(context, std::memory_order_relaxed);
    completed_.store(0, std::memory_order_relaxed);
    const uint32_t generation = ++generation_;
    ticket_.store(make_ticket(generation, chunks), std::memory_order_seq_cst);
    if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(wake_mutex_); }
      wake_.notify_all();
    }
    inside_region = true;
    take_chunks(generation, 0);
    inside_region = false;
    wait_for_completion(chunks);
  }

  void resize(int workers) {
    std::lock_guard<std::mutex> region(region_mutex_);
    if (static_cast<int>(workers_.size()) == workers) return;
    stop_workers();
    for (int w = 1; w <= workers; ++w) workers_.emplace_back([this, w] { work(w); });
  }

 private:
  void take_chunks(uint32_t generation, int participant) {
    uint64_t ticket = ticket_.load(std::memory_order_acquire);
    while (generation_of(ticket) == generation && next_of(ticket) < count_of(ticket)) {
      if (!ticket_.compare_exchange_weak(ticket, ticket + (uint64_t{1} << kNextShift),
                                         std::memory_order_acq_rel, std::memory_order_acquire))
        continue;
      const ChunkTask task = task_.load(std::memory_order_relaxed);
      task(context_.load(std::memory_order_relaxed), next_of(ticket), participant);
      if (completed_.fetch_add(1, std::memory_order_seq_cst) + 1 == count_of(ticket) &&
          caller_sleeping_.load(std::memory_order_seq_cst)) {
        { std::lock_guard<std::mutex> lock(done_mutex_); }
        done_.notify_one();
      }
      ticket = ticket_.load(std::memory_order_acquire);
    }
  }

  void wait_for_completion(int64_t chunks) {
    auto done = [&] { return completed_.load(std::memory_order_acquire) == chunks; };
    if (spin_until(done)) return;
    std::unique_lock<std::mutex> lock(done_mutex_);
    caller_sleeping_.store(true, std::memory_order_seq_cst);
    done_.wait(lock, [&] { return completed_.load(std::memory_order_seq_cst) == chunks; });
    caller_sleeping_.store(false, std::memory_order_relaxed);
  }

  void work(int participant) {
    flush_subnormals_on_this_thread();
    inside_region = true;
    this_participant = participant;
    uint32_t seen = generation_of(ticket_.load(std::memory_order_acquire));
    for (;;) {
      auto published = [&] {
        return generation_of(ticket_.load(std::memory_order_seq_cst)) != seen ||
               stopping_.load(std::memory_order_relaxed);
      };
      if (!spin_until(published)) {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, published);
        sleeping_workers_.fetch_sub(1, std::memory_order_relaxed);
      }
      if (stopping_.load(std::memory_order_relaxed)) return;
      seen = generation_of(ticket_.load(std::memory_order_acquire));
      take_chunks(seen, participant);
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      stopping_.store(true, std::memory_order_relaxed);
    }
    wake_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    stopping_.store(false, std::memory_order_relaxed);
  }

  std::mutex region_mutex_;
  std::vector<std::thread> workers_;
  uint32_t generation_ = 0;
  std::atomic<uint64_t> ticket_{0};
  std::atomic<ChunkTask> task_{nullptr};
  std::atomic<const void*> context_{nullptr};
  std::atomic<int64_t> completed_{0};
  std::atomic<bool> stopping_{false};

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleeping_workers_{0};

  std::mutex done_mutex_;
  std::condition_variable done_;
  std::atomic<bool> caller_sleeping_{false};
};

// Never destroyed: a static's destructor may still run kernels at exit, and workers asleep on a
// condition variable end with the process.
Pool& pool() {
  static Pool* instance = new Pool;
  return *instance;
}

}  // namespace

void flush_subnormals_on_this_thread() {
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ | DAZ
#endif
}

void run_chunks(int64_t chunks, int participants, ChunkTask task, const void* context) {
  if (chunks <= 0) return;
  if (chunks == 1 || participants <= 1 || inside_region ||
      chunks > static_cast<int64_t>(kCountMask)) {
    run_serially(chunks, task, context);
    return;
  }
  pool().run(chunks, task, context);
}

bool in_parallel_region() { return inside_region; }

int current_participant() { return this_participant; }

void resize_thread_pool(int threads) { pool().resize(threads - 1); }

namespace detail {
int parse_spin_microseconds(const char* text) {
  if (text == nullptr || *text == '\0') return kDefaultSpinMicroseconds;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  ONESTEP_CHECK(*end == '\0' && value >= 0 && value <= 1000000,
                "ONESTEP_SPIN_US must be an integer from 0 to 1000000, got '{}'", text);
  return static_cast<int>(value);
}
}  // namespace detail

int spin_microseconds() {
  static const int value = detail::parse_spin_microseconds(std::getenv("ONESTEP_SPIN_US"));
  return value;
}

}  // namespace onestep::cpu_backend
