#pragma once
// The kernel language on the host: the qualifiers compile away, threadIdx/blockIdx/blockDim/
// gridDim are per-host-thread variables the launcher sets before each emulated thread runs, and
// launch() runs a kernel's whole grid before it returns (every stream is synchronous).
//
// Threads of a block run one after another. A launch with dynamic shared memory runs each of
// its threads as a fiber, so that __syncthreads is a real barrier: every thread runs up to it
// before any continues. Its shared memory is reached only through dynamic_shared_memory<T>(),
// which checks every access against the launch's size and, between two barriers, against every
// other thread's accesses: a value one thread wrote and another reads (or overwrites) before a
// barrier separates them is a missing __syncthreads. A fault throws cuda_emulator::Fault naming
// the kernel, block, thread and byte.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <math.h>  // the global ::expf, ::isfinite... that device code calls
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// Static and extern __shared__ arrays cannot be emulated (one per block, not per thread): a
// kernel takes its shared memory from cuda_emulator::dynamic_shared_memory<T>() instead.
#define __shared__ __shared__is_not_emulated_use_dynamic_shared_memory

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Read on every kernel line that indexes: __thread with the initial-exec model is a plain
// fs-relative load, where an extern thread_local goes through a wrapper call and, in
// position-independent code, __tls_get_addr.
#define ONESTEP_EMULATOR_TLS __thread __attribute__((tls_model("initial-exec")))
extern ONESTEP_EMULATOR_TLS uint3 threadIdx;
extern ONESTEP_EMULATOR_TLS uint3 blockIdx;
extern ONESTEP_EMULATOR_TLS dim3 blockDim;
extern ONESTEP_EMULATOR_TLS dim3 gridDim;

struct CUstream_st;
typedef CUstream_st* cudaStream_t;

namespace cuda_emulator {

// A defect in a kernel found while it ran: shared memory out of bounds, a data race on shared
// memory, a barrier not every thread reached.
class Fault : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
struct Grid {
  const char* kernel;
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
};
// Runs thread_body(closure) once for every thread of the grid; false (with the last error set)
// when the configuration is one the runtime would refuse.
bool run_grid(const Grid& grid, void (*thread_body)(void*), void* closure);
void barrier();
// Checks an access of `bytes` bytes at `offset` of this block's shared memory; returns its
// address.
void* shared_access(int64_t offset, size_t bytes, bool write);
}  // namespace detail

// One element of shared memory, read and written through checks.
template <class T>
class SharedRef {
 public:
  explicit SharedRef(int64_t offset) : offset_(offset) {}
  operator T() const {
    T value;
    std::memcpy(&value, detail::shared_access(offset_, sizeof(T), false), sizeof(T));
    return value;
  }
  SharedRef& operator=(const T& value) {
    std::memcpy(detail::shared_access(offset_, sizeof(T), true), &value, sizeof(T));
    return *this;
  }
  SharedRef& operator=(const SharedRef& other) { return *this = static_cast<T>(other); }

 private:
  int64_t offset_;  // bytes; negative or past the end is reported by shared_access
};

// The launch's dynamic shared memory as an array of T.
template <class T>
class SharedArray {
 public:
  static_assert(std::is_trivially_copyable_v<T>, "shared memory holds trivially copyable values");
  template <class I>
  SharedRef<T> operator[](I index) const {
    static_assert(std::is_integral_v<I>, "shared memory index must be an integer");
    return SharedRef<T>(static_cast<int64_t>(index) * static_cast<int64_t>(sizeof(T)));
  }
};

template <class T>
SharedArray<T> dynamic_shared_memory() {
  return {};
}

// kernel<<<grid, block, shared_bytes, stream>>>(args...), run to completion.
template <class... Params, class... Args>
bool launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block,
            size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of kernel arguments");
  struct Closure {
    void (*kernel)(Params...);
    std::tuple<std::decay_t<Params>...> params;
  };
  Closure closure{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
  // Each thread's parameters are copies of the stored arguments (the kernel takes them by
  // value), so a thread that changes one changes only its own, as on a GPU.
  auto body = [](void* c) {
    const Closure& self = *static_cast<const Closure*>(c);
    std::apply(self.kernel, self.params);
  };
  return detail::run_grid({name, grid, block, shared_bytes, stream}, body, &closure);
}

}  // namespace cuda_emulator

inline void __syncthreads() {
  cuda_emulator::detail::barrier();
}

// Threads of a launch never run at the same time, so atomics are plain read-modify-writes.
inline float atomicAdd(float* address, float value) {
  const float old = *address;
  *address = old + value;
  return old;
}
inline double atomicAdd(double* address, double value) {
  const double old = *address;
  *address = old + value;
  return old;
}
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  const unsigned long long old = *address;
  *address = old + value;
  return old;
}

// Correctly rounded fused multiply-add, as the device instruction.
inline double __fma_rn(double a, double b, double c) {
  return std::fma(a, b, c);
}
