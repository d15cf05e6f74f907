// GFLOP/s of onestep's matmul and conv2d at SongUNet shapes, as a fraction of the machine's FMA
// peak measured in the same run (every thread running independent fused multiply-adds, nothing
// loaded), with a plain Eigen GEMM beside them. Medians of repeated runs. Each row is timed in
// fp32 and in bf16 (MatmulPrecision::bf16), the latter against the peak of a vdpbf16ps loop
// where the build has AVX512_BF16.
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

// As fma_loop with vdpbf16ps: two multiply-adds per float32 lane and instruction.
double dpbf16_loop(int64_t iterations, float* sink) {
#if defined(__AVX512BF16__)
  constexpr int kAccumulators = 12;
  __m512 acc[kAccumulators];
  for (int j = 0; j < kAccumulators; ++j) acc[j] = _mm512_set1_ps(0.001f * static_cast<float>(j));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (int j = 0; j < kAccumulators; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
  float total = 0;
  for (int j = 0; j < kAccumulators; ++j) total += _mm512_cvtss_f32(acc[j]);
  *sink = total;
  return 2.0 * 32 * kAccumulators * static_cast<double>(iterations);
#else
  (void)iterations;
  (void)sink;
  return 0.0;
#endif
}

// GFLOP/s of a loop on `threads` threads at once (0 when the build lacks its instructions).
double loop_peak_gflops(int threads, int reps, double (*loop)(int64_t, float*)) {
  constexpr int64_t kIterations = 20'000'000;
  std::vector<float> sinks(threads);
  double flops = 0;
  const double ms = median_ms(
      [&] {
        std::vector<std::thread> pool;
        std::vector<double> done(threads);
        for (int t = 0; t < threads; ++t)
          pool.emplace_back([&, t] { done[t] = loop(kIterations, &sinks[t]); });
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

std::string of_peak(double gflops, double peak_gflops) {
  return peak_gflops > 0 ? fmt::format("{:.0f} %", 100.0 * gflops / peak_gflops) : "-";
}

void print(const Row& r, double peak_gflops) {
  const double gflops = r.flops / (r.ms * 1e6);
  fmt::print("{:<30} {:<36} {:>9.2f} {:>9.1f} {:>9}\n", r.workload, r.shape, r.ms, gflops,
             of_peak(gflops, peak_gflops));
}

// The same row in fp32 and bf16, and the bf16 speed-up.
void print(const Row& fp32, const Row& bf16, double fp32_peak, double bf16_peak) {
  const double g32 = fp32.flops / (fp32.ms * 1e6), g16 = bf16.flops / (bf16.ms * 1e6);
  fmt::print("{:<24} {:<30} {:>8.2f} {:>7.1f} {:>6} {:>8.2f} {:>7.1f} {:>6} {:>6.2f}x\n",
             fp32.workload, fp32.shape, fp32.ms, g32, of_peak(g32, fp32_peak), bf16.ms, g16,
             of_peak(g16, bf16_peak), fp32.ms / bf16.ms);
}

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

// A 3x3 (pad 1) or 1x1 convolution of SongUNet, batch N: its forward pass, input gradient and
// weight gradient timed apart (each gradient as its forward + backward less the forward).
void conv_rows(std::vector<Row>& rows, int64_t N, int64_t in, int64_t out, int64_t size,
               int64_t kernel, Rng& gen, int reps) {
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
  // Forward and backward differentiating only the input or only the weight (a copy of it that
  // requires grad).
  auto time_with_gradient_of = [&](bool of_input) {
    const Tensor leaf = (of_input ? x : w).detach().clone().set_requires_grad(true);
    return median_ms(
        [&] {
          leaf.zero_grad();
          conv2d(of_input ? leaf : x, of_input ? w : leaf, Tensor(), 1, pad).backward(g);
        },
        reps);
  };
  const double with_input = time_with_gradient_of(true);
  const double with_weight = time_with_gradient_of(false);
  forward = std::min(forward, time_forward());
  rows.push_back({"conv2d forward", shape, flops, forward});
  rows.push_back({"conv2d input gradient", shape, flops, std::max(with_input - forward, 1e-3)});
  rows.push_back({"conv2d weight gradient", shape, flops, std::max(with_weight - forward, 1e-3)});
}

// Every row of the table, under one matmul precision (the same inputs for both).
std::vector<Row> measure(MatmulPrecision precision, bool quick, int reps) {
  const MatmulPrecisionScope scope(precision);
  const int64_t n = 1024;
  Rng gen(0);
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
  return rows;
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

  const double peak = loop_peak_gflops(threads, reps, fma_loop);
  if (peak <= 0) {
    fmt::print("this build has no AVX2/AVX-512 FMA: no peak to compare with\n");
    return 1;
  }
  fmt::print("FMA-loop peak: {:.1f} GFLOP/s on {} threads ({:.1f} per thread)\n\n", peak, threads,
             peak / threads);

  fmt::print("{:<30} {:<36} {:>9} {:>9} {:>9}\n", "workload", "shape", "ms", "GFLOP/s", "of peak");
  // A plain Eigen float GEMM, square 1024, single-threaded as the engine runs Eigen.
  const int64_t n = 1024;
  Eigen::MatrixXf ea = Eigen::MatrixXf::Random(n, n), eb = Eigen::MatrixXf::Random(n, n), ec(n, n);
  print({"Eigen GEMM, 1 thread", "1024x1024 @ 1024x1024", 2.0 * n * n * n,
         median_ms([&] { ec.noalias() = ea * eb; }, reps)},
        peak / threads);
  fmt::print("  (the Eigen row is against one thread's peak)\n");

  const std::vector<Row> fp32 = measure(MatmulPrecision::fp32, quick, reps);
  const std::vector<Row> bf16 = measure(MatmulPrecision::bf16, quick, reps);
  const double bf16_peak = loop_peak_gflops(threads, reps, dpbf16_loop);
  if (bf16_peak > 0)
    fmt::print("\nvdpbf16ps-loop peak: {:.1f} GFLOP/s on {} threads\n", bf16_peak, threads);
  else
    fmt::print("\nno AVX512_BF16 in this build: bf16 runs through float32 multiply-adds\n");
  fmt::print("\n{:<24} {:<30} {:>8} {:>7} {:>6} {:>8} {:>7} {:>6} {:>7}\n", "workload", "shape",
             "fp32 ms", "GFLOP/s", "peak", "bf16 ms", "GFLOP/s", "peak", "speed-up");
  for (size_t i = 0; i < fp32.size(); ++i) print(fp32[i], bf16[i], peak, bf16_peak);
  fmt::print(
      "\nGFLOP/s counts 2 flops per multiply-add. A gradient's time is its forward + backward "
      "less the forward.\n");
  return 0;
}
