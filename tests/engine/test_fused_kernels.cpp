// The CPU backend's fused kernels are the ones docs/ENGINE.md lists for it.

#include <gtest/gtest.h>

#include "fused_kernels.h"

namespace onestep {
namespace {

TEST(FusedKernels, TheCpuHasItsListedKernels) {
  const std::set<std::string> expected = {"group_norm_forward", "group_norm_backward",
                                          "conv2d_forward_with_bias", "adam_update"};
  EXPECT_EQ(testing::fused_kernels_of(Device::cpu()), expected);
}

}  // namespace
}  // namespace onestep
