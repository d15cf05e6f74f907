// The CUDA backend's fused kernels are the ones docs/ENGINE.md lists for it; the rest of the
// CPU's (conv2d_forward_with_bias) run as composites on the device.

#include "../fused_kernels.h"
#include "cuda_test_util.h"

namespace onestep {
namespace {

TEST(CudaFusedKernels, TheDeviceHasItsListedKernels) {
  ONESTEP_REQUIRE_CUDA();
  const std::set<std::string> expected = {"group_norm_forward", "group_norm_backward",
                                          "adam_update"};
  EXPECT_EQ(testing::fused_kernels_of(cuda_testing::gpu()), expected);
}

}  // namespace
}  // namespace onestep
