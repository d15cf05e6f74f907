// Philox fills with the CPU backend's layout (engine/src/philox.h, shared with it): one thread
// per counter, its lanes written to consecutive elements. Uniforms and integers are bit-identical
// to the CPU's; normals go through Box-Muller in double, whose log/sin/cos on the GPU may differ
// from the host's libm in the last bit of the double (so f32 normals almost always match exactly
// and f64 normals agree to a few ulp).

#include "../../src/philox.h"
#include "cuda_backend.h"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

namespace {

// One of philox.h's lane functions (the same the CPU backend fills with), as a kernel functor.
template <auto kLane>
struct PhiloxLane {
  __device__ auto operator()(const philox::Block& b, int lane) const { return kLane(b, lane); }
};
struct RandInt {
  int64_t low;
  uint64_t range;
  __device__ int64_t operator()(const philox::Block& b, int lane) const {
    return philox::randint_lane(b, lane, low, range);
  }
};

// out[c * lanes + lane] = f(block(seed, counter + c), lane) for every element below n.
template <class T, class F>
__global__ void philox_kernel(T* out, int64_t n, int lanes, uint64_t seed, uint64_t counter,
                              int64_t counters, F f) {
  ONESTEP_GRID_STRIDE_LOOP(c, counters) {
    const philox::Block block = philox::block(seed, counter + static_cast<uint64_t>(c));
    const int64_t first = c * lanes;
    for (int lane = 0; lane < lanes && first + lane < n; ++lane) out[first + lane] = f(block, lane);
  }
}

template <class T, class F>
void fill_lanes(const CudaBackend& be, const Tensor& out, int lanes, uint64_t seed,
                uint64_t counter, F f) {
  const int64_t n = out.numel();
  const int64_t counters = static_cast<int64_t>(philox::counters_needed(lanes, n));
  ONESTEP_LAUNCH(blocks_for(counters, be.sm_count()), kThreads, 0, be.stream(),
                 philox_kernel<T, F>)(typed<T>(out), n, lanes, seed, counter, counters, f);
}

// f32 (four lanes per counter) or f64 (two) values from philox.h's lane functions.
template <auto kF32Lane, auto kF64Lane>
void fill_floating(const CudaBackend& be, const Tensor& out, bool f32, uint64_t seed,
                   uint64_t counter) {
  if (f32) return fill_lanes<float>(be, out, 4, seed, counter, PhiloxLane<kF32Lane>{});
  fill_lanes<double>(be, out, 2, seed, counter, PhiloxLane<kF64Lane>{});
}

}  // namespace

void CudaBackend::random(backend::RandomKind kind, const Tensor& out, uint64_t seed,
                         uint64_t counter, double p0, double p1) {
  const bool f32 = out.dtype() == DType::f32;
  switch (kind) {
    case backend::RandomKind::uniform:
    case backend::RandomKind::normal:
      ONESTEP_CHECK(is_floating(out.dtype()),
                    "random on cuda: uniform and normal fill f32 or f64 tensors, got {}",
                    dtype_name(out.dtype()));
      break;
    case backend::RandomKind::randint:
      ONESTEP_CHECK(out.dtype() == DType::i64, "random on cuda: randint fills i64 tensors, got {}",
                    dtype_name(out.dtype()));
      break;
  }
  if (out.numel() == 0) return;
  activate();
  switch (kind) {
    case backend::RandomKind::uniform:
      return fill_floating<philox::uniform_f32_lane, philox::uniform_f64_lane>(*this, out, f32,
                                                                               seed, counter);
    case backend::RandomKind::normal:
      return fill_floating<philox::normal_f32_lane, philox::normal_f64_lane>(*this, out, f32, seed,
                                                                             counter);
    case backend::RandomKind::randint: {
      const int64_t low = static_cast<int64_t>(p0);
      const uint64_t range = static_cast<uint64_t>(static_cast<int64_t>(p1) - low);
      return fill_lanes<int64_t>(*this, out, 2, seed, counter, RandInt{low, range});
    }
  }
}

}  // namespace onestep::cuda_backend
