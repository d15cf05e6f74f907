#pragma once
// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) and the
// mapping from counters to tensor elements. Shared by the CPU and CUDA backends so that both
// produce the same numbers for the same seed.
//
// Layout (element i of a tensor filled from counter base c):
//   f32 uniform / normal : counter c + i/4, word i%4 (normal: Box-Muller on word pairs 0-1, 2-3)
//   f64 uniform          : counter c + i/2, words 2(i%2), 2(i%2)+1 as 53 bits
//   f64 normal           : counter c + i/2, one Box-Muller pair from all four words
//   i64 randint          : counter c + i/2, words 2(i%2), 2(i%2)+1 as 64 bits
// A fill of n elements consumes counters_needed(dtype, n) counters.

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define ONESTEP_HD __host__ __device__ __forceinline__
#else
#define ONESTEP_HD inline
#endif

namespace onestep::philox {

struct Block {
  uint32_t w[4];
};

ONESTEP_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

ONESTEP_HD Block philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                               uint32_t k1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, c0, hi0, lo0);
    mulhilo(kMul1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return Block{{c0, c1, c2, c3}};
}

ONESTEP_HD Block block(uint64_t seed, uint64_t counter) {
  return philox4x32_10(static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u,
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// [0, 1) from 24 bits.
ONESTEP_HD float uniform_f32(uint32_t w) {
  return static_cast<float>(w >> 8) * 0x1.0p-24f;
}
// (0, 1] from 24 bits (safe for log).
ONESTEP_HD double open_uniform_24(uint32_t w) {
  return (static_cast<double>(w >> 8) + 1.0) * 0x1.0p-24;
}
// [0, 1) from 53 bits.
ONESTEP_HD double uniform_f64(uint32_t hi, uint32_t lo) {
  const uint64_t bits = ((static_cast<uint64_t>(hi) << 32) | lo) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}
// Box-Muller in double precision, so that CPU and GPU round to the same float.
ONESTEP_HD void box_muller(double u_open, double u, double& z0, double& z1) {
  const double radius = std::sqrt(-2.0 * std::log(u_open));
  const double angle = 6.283185307179586476925 * u;
  z0 = radius * std::cos(angle);
  z1 = radius * std::sin(angle);
}

// Element values from the block of their counter; `lane` is the element's index within the
// counter (i % 4 for f32 kinds, i % 2 for the others).
ONESTEP_HD float uniform_f32_lane(const Block& b, int lane) {
  return uniform_f32(b.w[lane]);
}
ONESTEP_HD double uniform_f64_lane(const Block& b, int lane) {
  return uniform_f64(b.w[2 * lane], b.w[2 * lane + 1]);
}
ONESTEP_HD float normal_f32_lane(const Block& b, int lane) {
  const int pair = 2 * (lane / 2);
  double z0, z1;
  box_muller(open_uniform_24(b.w[pair]), static_cast<double>(b.w[pair + 1] >> 8) * 0x1.0p-24, z0,
             z1);
  return static_cast<float>(lane % 2 == 0 ? z0 : z1);
}
ONESTEP_HD double normal_f64_lane(const Block& b, int lane) {
  const double u_open = 1.0 - uniform_f64(b.w[0], b.w[1]);  // (0, 1]
  double z0, z1;
  box_muller(u_open, uniform_f64(b.w[2], b.w[3]), z0, z1);
  return lane == 0 ? z0 : z1;
}
ONESTEP_HD int64_t randint_lane(const Block& b, int lane, int64_t low, uint64_t range) {
  const uint64_t bits = (static_cast<uint64_t>(b.w[2 * lane]) << 32) | b.w[2 * lane + 1];
  return low + static_cast<int64_t>(bits % range);
}

// Elements per counter: 4 for f32 uniform and normal, 2 for f64 and randint.
ONESTEP_HD int lanes_per_counter(bool is_f32_float) {
  return is_f32_float ? 4 : 2;
}
inline uint64_t counters_needed(int lanes, int64_t n) {
  return (static_cast<uint64_t>(n) + lanes - 1) / lanes;
}

}  // namespace onestep::philox
