// One Adam step over the parameters of the Fashion-MNIST teachers (the fmnist-cpu and fmnist
// presets' SongUNets): the fused update (adam_update) beside the composite of elementwise ops
// it replaced (reference::adam_update), in the same run. Medians of repeated steps, in ms.
//
//   build/bench/optimizer_step [--quick] [--device cuda]
//
// On CUDA the fused update is one launch per 36 parameters instead of ~12 per parameter.
// Timings from an emulation build (-DONESTEP_CUDA_EMULATION=ON) measure the host, not a GPU,
// and are refused.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "onestep/diffusion/teacher.h"
#include "onestep/engine.h"
#include "onestep/nn/song_unet.h"

using namespace onestep;

namespace {

// Host wall time on the CPU; device time from CUDA events on a GPU.
double time_ms(const std::function<void()>& work, Device device) {
  if (device.is_cuda()) {
    cuda::EventTimer timer(device);
    timer.start();
    work();
    return timer.stop_ms();
  }
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

double median_ms(const std::function<void()>& work, Device device, int reps) {
  time_ms(work, device);  // warm-up: allocator, threads
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) times.push_back(time_ms(work, device));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The teacher preset's SongUNet at 1x32x32, as `onestep bench` builds it.
nn::SongUNetConfig preset_unet(const std::string& preset) {
  nn::SongUNetConfig c = diffusion::teacher_preset(preset).model.unet;
  c.img_resolution = 32;
  c.in_channels = c.out_channels = 1;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  Device device = Device::cpu();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      device = parse_device(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--device cpu|cuda]\n", argv[0]);
      return 2;
    }
  }
  if (device.is_cuda() && (!cuda::available() || cuda::emulated())) {
    std::fprintf(stderr, "optimizer_step: no CUDA device to time (%s)\n",
                 cuda::emulated() ? "this is an emulation build" : cuda::unavailable_reason().c_str());
    return 2;
  }
  const int reps = quick ? 5 : 21;
  struct Model {
    const char* name;
    nn::SongUNetConfig config;
  };
  const Model models[] = {{"fmnist-cpu teacher", preset_unet("fmnist-cpu")},
                          {"fmnist teacher", preset_unet("fmnist")}};
  std::printf("Adam step on %s, %d threads, median of %d (ms)\n", device.str().c_str(),
              num_threads(), reps);
  std::printf("| model | parameters | tensors | composite | fused | composite / fused |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Model& model : models) {
    Rng gen(1);
    const nn::SongUNet net(model.config, gen);
    std::vector<AdamParameter> parameters;
    int64_t count = 0;
    for (const Tensor& p : net.parameters()) {
      const Tensor value = p.detach().to(device);
      parameters.push_back({value, randn(p.shape(), gen).to(device) * 1e-2,
                            zeros(p.shape(), p.dtype(), device), zeros(p.shape(), p.dtype(), device),
                            1});
      count += p.numel();
    }
    AdamHyperparameters h;
    h.lr = 1e-6;  // keeps the parameters where they are over many repetitions
    const double composite = median_ms([&] { reference::adam_update(parameters, h); }, device, reps);
    const double fused = median_ms([&] { adam_update(parameters, h); }, device, reps);
    std::printf("| %s | %.2f M | %zu | %.2f | %.2f | %.2fx |\n", model.name, count / 1e6,
                parameters.size(), composite, fused, composite / fused);
  }
  return 0;
}
