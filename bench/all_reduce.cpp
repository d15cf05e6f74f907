// The cost of averaging gradients over data-parallel ranks (run::average_gradients, what every
// optimizer step of a data-parallel run adds), for parameter counts of onestep's networks. Run
// as `mpirun -np N all_reduce` in a build with ONESTEP_MPI; prints one table on rank 0:
// milliseconds per average (median of 10 after 2 warm-ups) and the bandwidths it achieves.
// "bus" is NCCL's measure, 2 (N - 1) / N x bytes / time: what each rank's link carries in a
// ring all-reduce, comparable across rank counts and with a link's rated bandwidth.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "onestep/engine.h"
#include "onestep/run/process_group.h"

using namespace onestep;

int main(int argc, char** argv) {
  run::DataParallelSession session(&argc, &argv, 600);
  run::ProcessGroup& group = run::process_group();
  const Device device = argc > 1 ? run::rank_device(parse_device(argv[1])) : Device::cpu();
  struct Size {
    const char* name;
    int64_t parameters;
  };
  // Parameter counts of the bench configs (docs/PERFORMANCE.md).
  const Size sizes[] = {{"fmnist-cpu", 887329}, {"fmnist", 6987585}, {"cifar10", 55735299}};
  if (group.rank() == 0) {
    std::printf(
        "| network | parameters | MiB (f32) | ranks | transport | ms per average | "
        "algorithm GB/s | bus GB/s |\n|---|---|---|---|---|---|---|---|\n");
  }
  for (const Size& size : sizes) {
    // Tensors of a U-Net's typical sizes: 1 MiB each, so the buckets are what a real run sends.
    std::vector<Tensor> params;
    for (int64_t left = size.parameters; left > 0; left -= 262144) {
      const Tensor p = zeros({std::min<int64_t>(left, 262144)}, DType::f32, device);
      p.set_requires_grad(true);
      params.push_back(p);
    }
    std::vector<double> times;
    for (int i = 0; i < 12; ++i) {
      for (const Tensor& p : params) p.set_grad(ones_like(p));
      run::barrier();
      const auto start = std::chrono::steady_clock::now();
      run::average_gradients(params);
      (void)params.back().grad().to(Device::cpu());  // waits for the device
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (i >= 2) times.push_back(run::max_over_ranks(ms));
    }
    std::sort(times.begin(), times.end());
    const double ms = times[times.size() / 2];
    const double bytes = 4.0 * static_cast<double>(size.parameters);
    const int n = group.size();
    if (group.rank() == 0)
      std::printf("| %s | %lld | %.1f | %d | %s | %.2f | %.2f | %.2f |\n", size.name,
                  static_cast<long long>(size.parameters), bytes / 1048576, n,
                  group.transport().c_str(), ms, bytes / ms * 1e-6,
                  2.0 * (n - 1) / n * bytes / ms * 1e-6);
  }
  return 0;
}
