// The multi-tensor Adam kernel against the CPU's fused update: more parameters than one launch
// takes (so the table is refilled), parameters spanning many blocks and ending mid-chunk, empty
// and one-element ones, f32 and f64 parameters in one call, every option, several steps.

#include "cuda_test_util.h"
#include "testing/adam_settings.h"

namespace onestep {
namespace {

using cuda_testing::compare;
using cuda_testing::gpu;

struct State {
  std::vector<Tensor> params, exp_avg, exp_avg_sq;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s = {{3 * 1024 + 17}, {0}, {1}, {256, 3, 3, 3}};
  for (int k = 0; k < 40; ++k) s.push_back({k % 7 + 1, 5});  // 44 parameters: two launches
  return s;
}

State make_state(Device device) {
  Rng gen(21);
  State st;
  int k = 0;
  for (const Shape& shape : shapes()) {
    const DType dtype = k++ % 3 == 0 ? DType::f64 : DType::f32;
    st.params.push_back(randn(shape, gen, dtype).to(device));
    st.exp_avg.push_back(zeros(shape, dtype, device));
    st.exp_avg_sq.push_back(zeros(shape, dtype, device));
  }
  return st;
}

void train(State& st, const AdamHyperparameters& h, Device device) {
  Rng gen(5);
  for (int step = 1; step <= 4; ++step) {
    std::vector<AdamParameter> parameters;
    for (size_t k = 0; k < st.params.size(); ++k) {
      const Tensor g = (randn(st.params[k].shape(), gen, DType::f64) * (0.2 * step))
                           .to(st.params[k].dtype())
                           .to(device);
      parameters.push_back({st.params[k], g, st.exp_avg[k], st.exp_avg_sq[k], step});
    }
    adam_update(parameters, h);
  }
}

TEST(CudaAdam, MatchesTheCpuForEveryOption) {
  ONESTEP_REQUIRE_CUDA();
  for (const auto& [name, h] : testing::adam_settings()) {
    SCOPED_TRACE(name);
    State device = make_state(gpu()), host = make_state(Device::cpu());
    train(device, h, gpu());
    train(host, h, Device::cpu());
    for (size_t k = 0; k < host.params.size(); ++k) {
      SCOPED_TRACE(fmt::format("parameter {} {} {}", k, shape_str(host.params[k].shape()),
                               dtype_name(host.params[k].dtype())));
      // Same operations in the same precision; nvcc contracts multiply-adds into FMAs.
      const double tol = host.params[k].dtype() == DType::f64 ? 1e-13 : 2e-6;
      EXPECT_EQ(compare(device.params[k], host.params[k], tol, tol), "");
      EXPECT_EQ(compare(device.exp_avg[k], host.exp_avg[k], tol, tol), "");
      EXPECT_EQ(compare(device.exp_avg_sq[k], host.exp_avg_sq[k], tol, tol), "");
    }
  }
}

TEST(CudaAdam, UpdatesInPlaceWithoutTemporaries) {
  ONESTEP_REQUIRE_CUDA();
  const int64_t n = 1 << 20;
  const Tensor p = zeros({n}, DType::f32, gpu()), g = ones({n}, DType::f32, gpu());
  const Tensor m = zeros({n}, DType::f32, gpu()), v = zeros({n}, DType::f32, gpu());
  const size_t before = memory_stats(gpu()).allocated_bytes;
  reset_peak_memory(gpu());
  adam_update({{p, g, m, v, 1}}, {});
  EXPECT_LT(memory_stats(gpu()).peak_allocated_bytes - before, size_t{1} << 20);
  // One step of Adam from zero moments moves every element by -lr * g / (|g| + eps).
  EXPECT_EQ(compare(p, full({n}, -1e-3 / (1 + 1e-8)), 1e-6, 1e-6), "");
}

}  // namespace
}  // namespace onestep
