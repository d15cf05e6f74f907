// The CUDA seam of a -DONESTEP_CUDA=ON build. These tests run everywhere (no `gpu` label): on a
// machine without a usable device, available() must say so without throwing or crashing, and
// asking for a CUDA tensor must be a clear error; the CPU keeps working either way.

#include <gtest/gtest.h>

#include "onestep/engine.h"
#include "testing/expect_error.h"

namespace onestep {
namespace {

TEST(CudaSeam, CompiledIsTrueAndAvailableNeverThrows) {
  EXPECT_TRUE(cuda::compiled());
  bool first = false;
  EXPECT_NO_THROW(first = cuda::available());
  EXPECT_EQ(cuda::available(), first);  // a stable answer
}

TEST(CudaSeam, WithoutADeviceCudaTensorsAreAClearError) {
  if (cuda::available()) GTEST_SKIP() << "this machine has a CUDA device";
  for (auto request : std::vector<std::function<void()>>{
           [] { zeros({2}, DType::f32, Device::cuda(0)); }, [] { ones({2}).to(Device::cuda(0)); },
           [] { memory_stats(Device::cuda(0)); }}) {
    testing::expect_error([&] { request(); }, {"cuda:0", "not available"});
  }
  EXPECT_EQ(sum(ones({3})).item(), 3.0);
}

}  // namespace
}  // namespace onestep
