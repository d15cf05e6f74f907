// `onestep bench`: the median time of one training, distillation or generation step, printed as
// one JSON line in the format of bench/torch_reference.py (scripts/bench-compare.sh joins them).

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include "bench_workloads.h"
#include "commands.h"
#include "onestep/engine.h"
#include "onestep/run/process_group.h"

namespace onestep::app {

namespace {

struct BenchFlags {
  std::string workload = "teacher", config = "fmnist", device = "cpu", precision = "fp32";
  int64_t batch = 64, warmup = 3, steps = 10, threads = 0;
  uint64_t seed = 0;
};

// Peak resident set of this process: what the PyTorch reference reports on the CPU too.
size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

int run_bench(BenchFlags& f) {
  const Device device = check_device_flag(f.device);
  if (f.threads > 0) set_num_threads(static_cast<int>(f.threads));
  const MatmulPrecisionScope precision(parse_matmul_precision(f.precision));
  BenchWorkload w = make_bench_workload(f.workload, f.config, f.batch, device, f.seed);
  fmt::print(stderr, "onestep bench: {} step, {} ({} parameters), batch {}, {}, {}\n", f.workload,
             f.config, w.parameters, f.batch, device_description(f.device),
             precision_description(matmul_precision(), device));

  std::vector<double> times;
  for (int64_t i = 0; i < f.warmup + f.steps; ++i) {
    if (i == f.warmup) reset_peak_memory(device);
    double ms = 0;
    if (device.is_cuda()) {
      // Device time between events on the device's stream, as torch.cuda.Event measures.
      cuda::EventTimer timer(device);
      timer.start();
      w.step();
      ms = timer.stop_ms();
    } else {
      const auto start = std::chrono::steady_clock::now();
      w.step();
      ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
               .count();
    }
    if (i >= f.warmup) times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  const MemoryStats stats = memory_stats(device);
  // On the CPU both programs report the peak RSS (the same measure; it includes the program
  // itself); allocator_peak_bytes is onestep's own tensor memory. On CUDA, the allocators' peaks.
  const size_t peak = device.is_cpu() ? peak_rss_bytes() : stats.peak_allocated_bytes;
  fmt::print(
      "{{\"impl\": \"onestep\", \"workload\": \"{}\", \"config\": \"{}\", \"batch\": {}, "
      "\"device\": \"{}\", \"threads\": {}, \"precision\": \"{}\", \"parameters\": {}, "
      "\"steps\": {}, \"median_ms\": {:.3f}, \"min_ms\": {:.3f}, \"max_ms\": {:.3f}, "
      "\"peak_memory_bytes\": {}, \"peak_memory_kind\": \"{}\", \"allocator_peak_bytes\": {}, "
      "\"ranks\": {}}}\n",
      f.workload, f.config, f.batch, device.is_cpu() ? "cpu" : "cuda",
      device.is_cpu() ? std::to_string(num_threads()) : "null", f.precision, w.parameters, f.steps,
      times[times.size() / 2], times.front(), times.back(), peak,
      device.is_cpu() ? "peak_rss" : "allocator_peak", stats.peak_allocated_bytes,
      run::process_group().size());
  return 0;
}

}  // namespace

Run add_bench_command(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Time one training, distillation, generation or optimizer step (median, JSON line)");
  add_checked_option(
      *cmd, "--workload", f->workload,
      "teacher (EDM step), distill (Uni-Instruct iteration), generate (one step), adam (the "
      "teacher's optimizer step alone)",
      member_of(bench_workload_names()));
  add_checked_option(*cmd, "--config", f->config, "Network: fmnist, fmnist-cpu or cifar10 (32x32)",
                     member_of(bench_config_names()));
  add_checked_option(*cmd, "--batch", f->batch, "Batch size", in_range(1, 65536));
  cmd->add_option("--device", f->device, "cpu, cuda or cuda:N")->capture_default_str();
  add_precision_flag(*cmd, f->precision);
  cmd->add_option("--threads", f->threads, "CPU threads (default: ONESTEP_THREADS, else all)")
      ->check(in_range(1, 4096));
  add_checked_option(*cmd, "--warmup", f->warmup, "Untimed steps first", in_range(1, 1000));
  add_checked_option(*cmd, "--steps", f->steps, "Timed steps (the median is reported)",
                     in_range(10, 100000));
  add_checked_option(*cmd, "--seed", f->seed, "Seed of the weights and inputs", kNonNegative);
  return [f] { return run_bench(*f); };
}

}  // namespace onestep::app
