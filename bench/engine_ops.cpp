// GFLOP/s of onestep's matmul and conv2d at SongUNet shapes, as a fraction of the machine's FMA
// peak measured in the same run (every thread running independent fused multiply-adds, nothing
// loaded), with a plain Eigen GEMM beside them. Medians of repeated runs.
//
//   build/bench/engine_ops [--quick]

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "onestep/engine.h"

using namespace onestep;

namespace {

double median_ms(const std::function<void()>& work, int reps) {
  work();  // warm-up: caches, allocator, threads
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    work();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Multiply-adds of one thread's FMA loop: 12 independent accumulators (more than two FMA units of
// latency 4 need; with the two constants still within AVX2's 16 registers), so nothing but the
// FMA throughput limits it. Returns flops done.
double fma_loop(int64_t iterations, float* sink) {
#if defined(__AVX512F__)
  using Vec = __m512;
  constexpr int kLanes = 16;
  auto fma = [](Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); };
  auto set = [](float v) { return _mm512_set1_ps(v); };
  auto first = [](Vec v) { return _mm512_cvtss_f32(v); };
#elif defined(__AVX2__) && defined(__FMA__)
  using Vec = __m256;
  constexpr int kLanes = 8;
  auto fma = [](Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); };
  auto set = [](float v) { return _mm256_set1_ps(v); };
  auto first = [](Vec v) { return _mm256_cvtss_f32(v); };
#else
  (void)iterations;
  (void)sink;
  return 0.0;
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  constexpr int kAccumulators = 12;
  Vec acc[kAccumulators];
  for (int j = 0; j < kAccumulators; ++j) acc[j] = set(0.001f * static_cast<float>(j));
  const Vec scale = set(0.999999f), shift = set(1e-7f);
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (int j = 0; j < kAccumulators; ++j) acc[j] = fma(acc[j], scale, shift);
  float total = 0;
  for (int j = 0; j < kAccumulators; ++j) total += first(acc[j]);
  *sink = total;
  return 2.0 * kLanes * kAccumulators * static_cast<double>(iterations);
#endif
}

// GFLOP/s of the FMA loop on `threads` threads at once (0 when the build has no FMA vectors).
double fma_peak_gflops(int threads, int reps) {
  constexpr int64_t kIterations = 20'000'000;
  std::vector<float> sinks(threads);
  double flops = 0;
  const double ms = median_ms(
      [&] {
        std::vector<std::thread> pool;
        std::vector<double> done(threads);
        for (int t = 0; t < threads; ++t)
          pool.emplace_back([&, t] { done[t] = fma_loop(kIterations, &sinks[t]); });
        for (std::thread& thread : pool) thread.join();
        flops = 0;
        for (double d : done) flops += d;
      },
      std::max(3, reps / 2));
  return flops / (ms * 1e6);
}

struct Row {
  std::string workload, shape;
  double flops, ms;
};

void print(const Row& r, double peak_gflops) {
  const double gflops = r.flops / (r.ms * 1e6);
  fmt::print("{:<30} {:<36} {:>9.2f} {:>9.1f} {:>7.0f} %\n", r.workload, r.shape, r.ms, gflops,
             100.0 * gflops / peak_gflops);
}

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

// A 3x3 (pad 1) or 1x1 convolution of SongUNet, batch N: its forward pass, input gradient and
// weight gradient timed apart (each gradient as its forward + backward less the forward).
void conv_rows(std::vector<Row>& rows, int64_t N, int64_t in, int64_t out, int64_t size,
               int64_t kernel, Generator& gen, int reps) {
  const Tensor x = randn({N, in, size, size}, gen);
  const Tensor w = randn({out, in, kernel, kernel}, gen) * (1.0 / std::sqrt(in * kernel * kernel));
  const Tensor g = randn({N, out, size, size}, gen);
  const int64_t pad = kernel / 2;
  const double flops = 2.0 * N * out * size * size * in * kernel * kernel;
  const std::string shape =
      fmt::format("N{} {}->{} {}x{} at {}x{}", N, in, out, kernel, kernel, size, size);
  auto time_forward = [&] {
    return median_ms(
        [&] {
          NoGradGuard no_grad;
          conv2d(x, w, Tensor(), 1, pad);
        },
        reps);
  };
  // Timed before and after the gradients, the faster kept: the first timing of a shape can
  // still include the allocator's first requests for its buffers.
  double forward = time_forward();
  const Tensor xg = x.detach().clone().set_requires_grad(true);
  const double with_input = median_ms(
      [&] {
        xg.zero_grad();
        conv2d(xg, w, Tensor(), 1, pad).backward(g);
      },
      reps);
  const Tensor wg = w.detach().clone().set_requires_grad(true);
  const double with_weight = median_ms(
      [&] {
        wg.zero_grad();
        conv2d(x, wg, Tensor(), 1, pad).backward(g);
      },
      reps);
  forward = std::min(forward, time_forward());
  rows.push_back({"conv2d forward", shape, flops, forward});
  rows.push_back({"conv2d input gradient", shape, flops, std::max(with_input - forward, 1e-3)});
  rows.push_back({"conv2d weight gradient", shape, flops, std::max(with_weight - forward, 1e-3)});
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int reps = quick ? 3 : 10;
  const int threads = num_threads();
  fmt::print(
      "onestep engine_ops: {} threads (ONESTEP_THREADS={}, ONESTEP_SPIN_US={}), median of {} "
      "runs after one warm-up\n\n",
      threads, env_or("ONESTEP_THREADS", "unset"), env_or("ONESTEP_SPIN_US", "unset"), reps);

  const double peak = fma_peak_gflops(threads, reps);
  if (peak <= 0) {
    fmt::print("this build has no AVX2/AVX-512 FMA: no peak to compare with\n");
    return 1;
  }
  fmt::print("FMA-loop peak: {:.1f} GFLOP/s on {} threads ({:.1f} per thread)\n\n", peak, threads,
             peak / threads);

  fmt::print("{:<30} {:<36} {:>9} {:>9} {:>9}\n", "workload", "shape", "ms", "GFLOP/s",
             "of peak");
  // A plain Eigen float GEMM, square 1024, single-threaded as the engine runs Eigen.
  const int64_t n = 1024;
  Eigen::MatrixXf ea = Eigen::MatrixXf::Random(n, n), eb = Eigen::MatrixXf::Random(n, n), ec(n, n);
  print({"Eigen GEMM, 1 thread", "1024x1024 @ 1024x1024", 2.0 * n * n * n,
         median_ms([&] { ec.noalias() = ea * eb; }, reps)},
        peak / threads);
  fmt::print("  (the Eigen row is against one thread's peak)\n");

  Generator gen(0);
  std::vector<Row> rows;
  {
    const Tensor a = randn({n, n}, gen), b = randn({n, n}, gen);
    rows.push_back({"matmul", "1024x1024 @ 1024x1024", 2.0 * n * n * n,
                    median_ms([&] { matmul(a, b); }, reps)});
  }
  {
    // A linear layer over every pixel of a 64-channel 32x32 batch of 64 (a 1x1 conv's GEMM).
    const Tensor x = randn({64 * 32 * 32, 64}, gen), w = randn({64, 64}, gen);
    rows.push_back({"linear (1x1 conv GEMM)", "[65536,64] x [64,64]^T", 2.0 * 65536 * 64 * 64,
                    median_ms([&] { linear(x, w); }, reps)});
  }
  // The convolutions of the fmnist teacher (SongUNet 64 channels, mult 1,2,2) at batch 64:
  // encoder and decoder 3x3 layers at each resolution, and a 1x1 skip.
  const int64_t batch = quick ? 16 : 64;
  conv_rows(rows, batch, 64, 64, 32, 3, gen, reps);
  conv_rows(rows, batch, 128, 64, 32, 3, gen, reps);
  conv_rows(rows, batch, 128, 128, 16, 3, gen, reps);
  conv_rows(rows, batch, 256, 128, 16, 3, gen, reps);
  conv_rows(rows, batch, 128, 128, 8, 3, gen, reps);
  conv_rows(rows, batch, 256, 128, 16, 1, gen, reps);
  for (const Row& r : rows) print(r, peak);
  fmt::print(
      "\nGFLOP/s counts 2 flops per multiply-add. A gradient's time is its forward + backward "
      "less the forward.\n");
  return 0;
}
