// Running a grid. Without shared memory a block's threads are plain calls, one after another.
// With shared memory each thread is a fiber (fiber.h) on a stack of its own, and the block's
// threads are run in turns: each runs until it reaches __syncthreads or returns; when every
// thread waits at the barrier, all are released. The fibers of a launch are made once and run
// block after block (under AddressSanitizer a new fiber costs a fake stack and a stack's worth
// of shadow memory, which per block made a reduction test 100x slower). Between two barriers every shared-memory byte
// remembers which thread wrote it and which read it, so a conflicting access by another thread
// is reported as the missing barrier it is.

#include <sys/mman.h>

#include <exception>
#include <string>
#include <vector>

#include "fiber.h"
#include "state.h"

#ifdef ONESTEP_EMULATOR_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

ONESTEP_EMULATOR_TLS uint3 threadIdx;
ONESTEP_EMULATOR_TLS uint3 blockIdx;
ONESTEP_EMULATOR_TLS dim3 blockDim;
ONESTEP_EMULATOR_TLS dim3 gridDim;

namespace cuda_emulator::detail {

namespace {

// Kernels are shallow (AddressSanitizer's redzones triple a frame, and with
// detect_stack_use_after_return its locals live on the heap). Below each stack is a page that
// faults, so an overflow cannot run into other memory.
constexpr size_t kFiberStackBytes = size_t{64} << 10;
constexpr size_t kGuardBytes = 4096;
constexpr size_t kMaxSharedBytes = size_t{48} << 10;

// ASan must be told when the stack changes under it (its fake stacks and use-after-return
// checks are per stack).
void start_switch(void** fake_stack, const void* bottom, size_t size) {
#ifdef ONESTEP_EMULATOR_ASAN
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}
void finish_switch(void* fake_stack, const void** bottom, size_t* size) {
#ifdef ONESTEP_EMULATOR_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}

// Fiber stacks are mapped once per host thread and reused by every launch on it.
struct StackPool {
  std::vector<char*> mappings;
  ~StackPool() {
    for (char* m : mappings) munmap(m, kGuardBytes + kFiberStackBytes);
  }
  void* get(size_t i) {
    while (mappings.size() <= i) {
      void* m = mmap(nullptr, kGuardBytes + kFiberStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      mprotect(m, kGuardBytes, PROT_NONE);
      mappings.push_back(static_cast<char*>(m));
    }
    return mappings[i] + kGuardBytes;
  }
};
thread_local StackPool stack_pool;

struct Fiber {
  Context context;
  void* stack = nullptr;
  bool finished = false;
  bool at_barrier = false;
};

// Who last touched a shared-memory byte since the last barrier (epoch).
struct Access {
  uint64_t epoch = 0;
  int writer = -1;
  int reader = -1;
  bool many_readers = false;
};

struct BlockRun {
  const Grid* grid = nullptr;
  void (*body)(void*) = nullptr;
  void* closure = nullptr;
  bool cooperative = false;
  unsigned threads = 0;
  int current = 0;  // linear index of the running thread
  std::vector<unsigned char> shared;
  std::vector<Access> accesses;
  uint64_t epoch = 1;
  std::vector<Fiber> fibers;
  bool quitting = false;  // set once the last block is done: fibers leave their loop
  Context scheduler;
  const void* scheduler_stack = nullptr;
  size_t scheduler_stack_size = 0;
  std::exception_ptr fault;
};

ONESTEP_EMULATOR_TLS BlockRun* active = nullptr;

uint3 thread_of(const dim3& block, unsigned linear) {
  return {linear % block.x, (linear / block.x) % block.y, linear / (block.x * block.y)};
}

std::string triple(unsigned x, unsigned y, unsigned z) {
  return "(" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + ")";
}

std::string where(const BlockRun& run, int thread) {
  const uint3 t = thread_of(run.grid->block, static_cast<unsigned>(thread));
  return std::string("kernel ") + run.grid->kernel + ", block " +
         triple(blockIdx.x, blockIdx.y, blockIdx.z) + ", thread " + triple(t.x, t.y, t.z);
}

std::string thread_name(const BlockRun& run, int thread) {
  const uint3 t = thread_of(run.grid->block, static_cast<unsigned>(thread));
  return "thread " + triple(t.x, t.y, t.z);
}

bool valid_configuration(const Grid& g) {
  const unsigned long long threads =
      static_cast<unsigned long long>(g.block.x) * g.block.y * g.block.z;
  if (g.grid.x == 0 || g.grid.y == 0 || g.grid.z == 0 || threads == 0) return false;
  if (g.block.x > 1024 || g.block.y > 1024 || g.block.z > 64 || threads > 1024) return false;
  if (g.grid.x > 2147483647u || g.grid.y > 65535 || g.grid.z > 65535) return false;
  return true;
}

void run_thread(BlockRun& run, unsigned linear) {
  threadIdx = thread_of(run.grid->block, linear);
  run.current = static_cast<int>(linear);
}

// A fiber runs its thread of every block of the launch: after each block it waits in the
// scheduler's hands until the next block (or the end of the launch) resumes it.
void fiber_main() {
  BlockRun& run = *active;
  Fiber& self = run.fibers[run.current];
  finish_switch(nullptr, &run.scheduler_stack, &run.scheduler_stack_size);
  for (;;) {
    try {
      run.body(run.closure);
    } catch (...) {
      run.fault = std::current_exception();
    }
    self.finished = true;
    void* fake_stack = nullptr;
    start_switch(&fake_stack, run.scheduler_stack, run.scheduler_stack_size);
    switch_context(self.context, run.scheduler);
    finish_switch(fake_stack, &run.scheduler_stack, &run.scheduler_stack_size);
    if (run.quitting) break;
  }
  // This fiber never runs again: nullptr lets ASan release its fake stack.
  start_switch(nullptr, run.scheduler_stack, run.scheduler_stack_size);
  switch_context(self.context, run.scheduler);
}

void switch_to(BlockRun& run, unsigned linear) {
  run_thread(run, linear);
  Fiber& f = run.fibers[linear];
  void* fake_stack = nullptr;
  start_switch(&fake_stack, f.stack, kFiberStackBytes);
  switch_context(run.scheduler, f.context);
  finish_switch(fake_stack, nullptr, nullptr);
}

void make_fibers(BlockRun& run) {
  for (unsigned i = 0; i < run.threads; ++i) {
    Fiber& f = run.fibers[i];
    f.stack = stack_pool.get(i);
    make_context(f.context, f.stack, kFiberStackBytes, fiber_main);
  }
}

// After the last block: every fiber leaves its loop and releases what ASan holds for it.
void end_fibers(BlockRun& run) {
  run.quitting = true;
  for (unsigned i = 0; i < run.threads; ++i) switch_to(run, i);
}

void run_block_cooperatively(BlockRun& run) {
  std::fill(run.shared.begin(), run.shared.end(), 0xFF);  // uninitialised, as on a GPU
  ++run.epoch;
  for (Fiber& f : run.fibers) {
    f.finished = false;
    f.at_barrier = false;
  }
  for (;;) {
    for (unsigned i = 0; i < run.threads; ++i) {
      if (run.fibers[i].finished) continue;
      switch_to(run, i);
      if (run.fault) std::rethrow_exception(run.fault);
    }
    unsigned waiting = 0;
    int returned = -1;
    for (unsigned i = 0; i < run.threads; ++i) {
      if (run.fibers[i].at_barrier) {
        ++waiting;
      } else if (returned < 0) {
        returned = static_cast<int>(i);
      }
    }
    if (waiting == 0) return;
    if (returned >= 0)
      throw Fault(where(run, returned) + ": returned while " + std::to_string(waiting) + " of " +
                  std::to_string(run.threads) +
                  " threads of its block wait at __syncthreads (a barrier in divergent code)");
    ++run.epoch;
    for (Fiber& f : run.fibers) f.at_barrier = false;
  }
}

}  // namespace

bool run_grid(const Grid& g, void (*thread_body)(void*), void* closure) {
  if (!valid_stream(g.stream)) {
    fail(cudaErrorInvalidResourceHandle);
    return false;
  }
  if (!valid_configuration(g)) {
    fail(cudaErrorInvalidConfiguration);
    return false;
  }
  if (g.shared_bytes > kMaxSharedBytes) {
    fail(cudaErrorInvalidValue);
    return false;
  }
  if (active != nullptr)
    throw Fault(std::string("kernel ") + g.kernel + " launched from inside kernel " +
                active->grid->kernel + ": device-side launches are not emulated");
  BlockRun run;
  run.grid = &g;
  run.body = thread_body;
  run.closure = closure;
  run.cooperative = g.shared_bytes > 0;
  run.threads = g.block.x * g.block.y * g.block.z;
  if (run.cooperative) {
    run.shared.resize(g.shared_bytes);
    run.accesses.resize(g.shared_bytes);
    run.fibers.resize(run.threads);
  }
  struct Active {
    explicit Active(BlockRun* run) { active = run; }
    ~Active() { active = nullptr; }
  } guard(&run);
  gridDim = g.grid;
  blockDim = g.block;
  if (run.cooperative) make_fibers(run);
  for (unsigned z = 0; z < g.grid.z; ++z)
    for (unsigned y = 0; y < g.grid.y; ++y)
      for (unsigned x = 0; x < g.grid.x; ++x) {
        blockIdx = {x, y, z};
        if (run.cooperative) {
          run_block_cooperatively(run);
          continue;
        }
        for (unsigned t = 0; t < run.threads; ++t) {
          run_thread(run, t);
          thread_body(closure);
        }
      }
  if (run.cooperative) end_fibers(run);
  return true;
}

void barrier() {
  BlockRun* run = active;
  if (run == nullptr) throw Fault("__syncthreads called outside a kernel");
  if (!run->cooperative)
    throw Fault(where(*run, run->current) +
                ": __syncthreads in a launch without dynamic shared memory; the emulator runs "
                "such a launch's threads one after another and cannot hold them at a barrier");
  Fiber& self = run->fibers[run->current];
  self.at_barrier = true;
  void* fake_stack = nullptr;
  start_switch(&fake_stack, run->scheduler_stack, run->scheduler_stack_size);
  switch_context(self.context, run->scheduler);
  finish_switch(fake_stack, &run->scheduler_stack, &run->scheduler_stack_size);
}

[[noreturn]] void out_of_bounds(const BlockRun& run, int64_t offset, size_t bytes, bool write) {
  throw Fault(where(run, run.current) + ": shared memory " + (write ? "write" : "read") + " of " +
              std::to_string(bytes) + " bytes at byte " + std::to_string(offset) +
              " is outside the " + std::to_string(run.shared.size()) +
              " bytes the launch gave");
}

[[noreturn]] void race(const BlockRun& run, size_t byte, bool write, const Access& a) {
  const int me = run.current;
  std::string other;
  if (a.writer >= 0 && a.writer != me) {
    other = thread_name(run, a.writer) + " wrote it";
  } else if (a.many_readers) {
    other = "other threads read it";
  } else {
    other = thread_name(run, a.reader) + " read it";
  }
  throw Fault(where(run, me) + ": shared memory " + (write ? "write" : "read") + " at byte " +
              std::to_string(byte) + " after " + other +
              " with no __syncthreads between (a data race)");
}

void* shared_access(int64_t offset, size_t bytes, bool write) {
  BlockRun* run = active;
  if (run == nullptr) throw Fault("shared memory used outside a kernel");
  const size_t size = run->shared.size();
  if (offset < 0 || static_cast<size_t>(offset) > size || bytes > size - offset)
    out_of_bounds(*run, offset, bytes, write);
  const int me = run->current;
  for (size_t b = static_cast<size_t>(offset); b < static_cast<size_t>(offset) + bytes; ++b) {
    Access& a = run->accesses[b];
    if (a.epoch != run->epoch) a = Access{run->epoch};
    const bool conflict = (a.writer >= 0 && a.writer != me) ||
                          (write && (a.many_readers || (a.reader >= 0 && a.reader != me)));
    if (conflict) race(*run, b, write, a);
    if (write) {
      a.writer = me;
    } else if (a.reader < 0) {
      a.reader = me;
    } else if (a.reader != me) {
      a.many_readers = true;
    }
  }
  return run->shared.data() + offset;
}

}  // namespace cuda_emulator::detail
