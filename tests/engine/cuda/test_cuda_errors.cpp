// Errors on the CUDA path: the same refusals as on the CPU, device mismatches named, bad device
// indices, and the check macros that turn CUDA and cuBLAS failures into onestep::Error.

#include "../../../engine/backends/cuda/cuda_check.h"
#include "cuda_test_util.h"

namespace onestep {
namespace {

using cuda_testing::gpu;

void expect_error(const std::function<void()>& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const std::string& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message '" << e.what() << "' lacks '" << fragment << "'";
  }
}

TEST(CudaErrors, UnsupportedDtypesAreRefusedAsOnTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  const Tensor ints = arange(0, 6, 1, DType::i64, gpu());
  expect_error([&] { exp(ints); }, {"exp", "floating-point"});
  expect_error([&] { ints / ints; }, {"div", "i64"});
  expect_error([&] { matmul(ints.reshape({2, 3}), ints.reshape({3, 2})); }, {"matmul"});
  expect_error([&] { ints * 1.5; }, {"affine", "integer"});
  // What integers do support works.
  EXPECT_EQ((ints * 2 + ints).to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 6, 9, 12, 15}));
}

TEST(CudaErrors, MixingDevicesNamesBoth) {
  ONESTEP_REQUIRE_CUDA();
  expect_error([] { add(zeros({2}), zeros({2}, DType::f32, gpu())); }, {"add", "cpu", "cuda:0"});
  expect_error([] { matmul(ones({2, 2}, DType::f32, gpu()), ones({2, 2})); }, {"matmul"});
}

TEST(CudaErrors, ADeviceIndexBeyondTheCountIsRefused) {
  ONESTEP_REQUIRE_CUDA();
  expect_error([] { zeros({2}, DType::f32, Device::cuda(1000)); }, {"cuda:1000", "device"});
}

TEST(CudaErrors, RuntimeAndCublasFailuresBecomeErrorsNamingTheCall) {
  ONESTEP_REQUIRE_CUDA();
  expect_error([] { ONESTEP_CUDA_CHECK(cudaSetDevice(100000)); },
               {"cudaSetDevice(100000)", "cudaErrorInvalidDevice"});
  expect_error(
      [] {
        ONESTEP_CUBLAS_CHECK(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, nullptr,
                                         nullptr, 1, nullptr, 1, nullptr, nullptr, 1));
      },
      {"cublasSgemm", "CUBLAS_STATUS_NOT_INITIALIZED"});
  // The device is still usable afterwards.
  EXPECT_EQ(ones({2}, DType::f32, gpu()).to_vector<float>(), std::vector<float>(2, 1.0f));
}

}  // namespace
}  // namespace onestep
