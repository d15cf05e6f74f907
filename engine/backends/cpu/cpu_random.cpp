// Philox fills: one block per counter, its lanes written to consecutive elements.

#include "../../src/philox.h"
#include "cpu_backend.h"
#include "parallel.h"

namespace onestep::cpu_backend {

namespace {

template <class T, class LaneFn>
void fill_lanes(T* out, int64_t n, int lanes, uint64_t seed, uint64_t counter,
                const LaneFn& lane_fn) {
  const int64_t counters = static_cast<int64_t>(philox::counters_needed(lanes, n));
  parallel_for(0, counters, 2048, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const philox::Block block = philox::block(seed, counter + static_cast<uint64_t>(c));
      const int64_t first = c * lanes;
      for (int lane = 0; lane < lanes && first + lane < n; ++lane)
        out[first + lane] = lane_fn(block, lane);
    }
  });
}

}  // namespace

void CpuBackend::random(backend::RandomKind kind, const Tensor& out, uint64_t seed,
                        uint64_t counter, double p0, double p1) {
  const int64_t n = out.numel();
  switch (kind) {
    case backend::RandomKind::uniform:
      if (out.dtype() == DType::f32)
        return fill_lanes(typed<float>(out), n, 4, seed, counter, philox::uniform_f32_lane);
      return fill_lanes(typed<double>(out), n, 2, seed, counter, philox::uniform_f64_lane);
    case backend::RandomKind::normal:
      if (out.dtype() == DType::f32)
        return fill_lanes(typed<float>(out), n, 4, seed, counter, philox::normal_f32_lane);
      return fill_lanes(typed<double>(out), n, 2, seed, counter, philox::normal_f64_lane);
    case backend::RandomKind::randint: {
      const int64_t low = static_cast<int64_t>(p0);
      const uint64_t range = static_cast<uint64_t>(static_cast<int64_t>(p1) - low);
      return fill_lanes(typed<int64_t>(out), n, 2, seed, counter,
                        [&](const philox::Block& b, int lane) {
                          return philox::randint_lane(b, lane, low, range);
                        });
    }
  }
}

}  // namespace onestep::cpu_backend
