// Philox on the GPU gives the CPU's numbers: the same seed and counter fill the same values
// (uniforms and integers bit for bit, normals to a few ulp from the device's log/sin/cos), for
// lengths that end mid-counter and for counter offsets, through the Backend and through the
// public Rng API.

#include <cmath>

#include "../../../engine/src/backend.h"
#include "cuda_test_util.h"

namespace onestep {
namespace {

using backend::RandomKind;
using cuda_testing::compare;
using cuda_testing::gpu;

struct RandomCase {
  RandomKind kind;
  DType dtype;
  double rtol;  // 0: bit-identical
  double p0 = 0, p1 = 0;
};

TEST(CudaRandom, BackendFillsMatchTheCpuAndWriteNothingPastTheEnd) {
  ONESTEP_REQUIRE_CUDA();
  const std::vector<RandomCase> cases = {
      {RandomKind::uniform, DType::f32, 0},
      {RandomKind::uniform, DType::f64, 0},
      // Box-Muller in double, rounded to float: a last-bit difference of the double (from
      // the device's log or cos) very rarely changes the float; allow one f32 ulp.
      {RandomKind::normal, DType::f32, 1.2e-7},
      {RandomKind::normal, DType::f64, 1e-14},
      {RandomKind::randint, DType::i64, 0, -7, 1000003},
      {RandomKind::randint, DType::i64, 0, -(double)(int64_t{1} << 52),
       (double)(int64_t{1} << 52)}};
  for (const RandomCase& c : cases) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4097}, int64_t{1000001}}) {
      for (uint64_t counter : {uint64_t{0}, uint64_t{12345}, (uint64_t{1} << 32) - 3}) {
        SCOPED_TRACE(fmt::format("kind {} {} n {} counter {}", static_cast<int>(c.kind),
                                 dtype_name(c.dtype), n, counter));
        const uint64_t seed = 0x0123456789ABCDEFull;
        const Tensor expected = empty({n}, c.dtype);
        backend::cpu().random(c.kind, expected, seed, counter, c.p0, c.p1);
        // Fill the first n elements of a longer poisoned buffer.
        const Tensor buffer = cuda_testing::poisoned({n + 5}, c.dtype);
        const Tensor out = buffer.slice(0, 0, n);
        backend::cuda(0).random(c.kind, out, seed, counter, c.p0, c.p1);
        EXPECT_EQ(compare(out, expected, 0, c.rtol), "");
        EXPECT_EQ(cuda_testing::compare_exact(buffer.slice(0, n, n + 5),
                                              cuda_testing::poisoned({5}, c.dtype, Device::cpu())),
                  "");
      }
    }
  }
}

TEST(CudaRandom, GeneratorsDrawTheSameNumbersOnBothDevices) {
  ONESTEP_REQUIRE_CUDA();
  Rng cpu_gen(2024), gpu_gen(2024);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(compare(rand({3, 333}, gpu_gen, DType::f32, gpu()),
                      rand({3, 333}, cpu_gen, DType::f32), 0, 0),
              "");
    EXPECT_EQ(compare(randn({1001}, gpu_gen, DType::f64, gpu()), randn({1001}, cpu_gen, DType::f64),
                      0, 1e-14),
              "");
    EXPECT_EQ(compare(randint(0, 10, {77}, gpu_gen, gpu()), randint(0, 10, {77}, cpu_gen), 0, 0),
              "");
  }
  // Dropout masks come from the same stream, so training with dropout resumes identically.
  const Tensor x = ones({64, 33});
  EXPECT_EQ(
      compare(dropout(x.to(gpu()), 0.3, true, gpu_gen), dropout(x, 0.3, true, cpu_gen), 0, 1e-6),
      "");
}

// A data-parallel rank's shard of a draw (Rng::set_shard) starts mid-counter: the same rows on
// the GPU as on the CPU.
TEST(CudaRandom, ShardedDrawsMatchTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  for (int64_t index = 0; index < 3; ++index) {
    Rng cpu_gen(31), gpu_gen(31);
    cpu_gen.set_shard(index, 3);
    gpu_gen.set_shard(index, 3);
    EXPECT_EQ(compare(randn({5, 3}, gpu_gen, DType::f32, gpu()), randn({5, 3}, cpu_gen), 0, 0), "");
    EXPECT_EQ(compare(rand({7}, gpu_gen, DType::f64, gpu()), rand({7}, cpu_gen, DType::f64), 0, 0),
              "");
    EXPECT_EQ(compare(randint(0, 9, {3}, gpu_gen, gpu()), randint(0, 9, {3}, cpu_gen), 0, 0), "");
  }
}

TEST(CudaRandom, NormalsHaveTheRightMoments) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(5);
  const Tensor z = randn({1 << 20}, gen, DType::f32, gpu());
  EXPECT_NEAR(mean(z).item(), 0.0, 5e-3);
  EXPECT_NEAR(var(z).item(), 1.0, 5e-3);
  EXPECT_TRUE(std::isfinite(amax(abs(z)).item()));
}

}  // namespace
}  // namespace onestep
