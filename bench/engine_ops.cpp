// GFLOP/s of onestep's matmul and conv2d at UNet shapes, next to a plain Eigen GEMM measured in
// the same run (the machine's practical peak for this library). Medians of repeated runs.
//
//   build/bench/engine_ops [--quick]

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

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

struct Row {
  std::string workload, shape;
  double flops, ms;
};

void print(const Row& r, double peak_gflops) {
  const double gflops = r.flops / (r.ms * 1e6);
  fmt::print("{:<28} {:<34} {:>9.2f} {:>9.1f} {:>8.2f}\n", r.workload, r.shape, r.ms, gflops,
             gflops / peak_gflops);
}

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int reps = quick ? 3 : 10;
  const int threads = num_threads();
  fmt::print(
      "onestep engine_ops: {} threads (ONESTEP_THREADS={}, ONESTEP_SPIN_US={}, "
      "OPENBLAS_CORETYPE={}), median of {} runs after one warm-up\n\n",
      threads, env_or("ONESTEP_THREADS", "unset"), env_or("ONESTEP_SPIN_US", "unset"),
      env_or("OPENBLAS_CORETYPE", "unset"), reps);

  // Reference: a plain Eigen float GEMM, square 1024 (what Eigen reaches on this machine).
  const int64_t n = 1024;
  Eigen::MatrixXf ea = Eigen::MatrixXf::Random(n, n), eb = Eigen::MatrixXf::Random(n, n), ec(n, n);
  const Row eigen_row{"Eigen GEMM (reference)", "1024x1024 @ 1024x1024", 2.0 * n * n * n,
                      median_ms([&] { ec.noalias() = ea * eb; }, reps)};
  const double peak = eigen_row.flops / (eigen_row.ms * 1e6);

  fmt::print("{:<28} {:<34} {:>9} {:>9} {:>8}\n", "workload", "shape", "ms", "GFLOP/s", "vs Eigen");
  print(eigen_row, peak);

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
  for (int64_t size : {32, 16}) {
    const int64_t batch = 64, channels = 64;
    const Tensor x = randn({batch, channels, size, size}, gen);
    const Tensor w = (randn({channels, channels, 3, 3}, gen) * 0.05).set_requires_grad(true);
    const Tensor xg = x.detach().clone().set_requires_grad(true);
    const double flops = 2.0 * batch * channels * size * size * channels * 9;
    const std::string shape = fmt::format("N{} 64->64 3x3 {}x{} pad 1", batch, size, size);
    rows.push_back({"conv2d forward", shape, flops,
                    median_ms(
                        [&] {
                          NoGradGuard no_grad;
                          conv2d(x, w, Tensor(), 1, 1);
                        },
                        reps)});
    const Tensor g = randn({batch, channels, size, size}, gen);
    rows.push_back({"conv2d forward+backward", shape, 3 * flops,
                    median_ms(
                        [&] {
                          xg.zero_grad();
                          w.zero_grad();
                          conv2d(xg, w, Tensor(), 1, 1).backward(g);
                        },
                        reps)});
  }
  for (const Row& r : rows) print(r, peak);
  fmt::print(
      "\nGFLOP/s counts 2 flops per multiply-add; forward+backward counts 3x the forward.\n");
  return 0;
}
