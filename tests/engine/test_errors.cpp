// Bad input throws onestep::Error naming the op, the shapes and what was expected.

#include <gtest/gtest.h>

#include "testing/gradcheck.h"

namespace onestep {
namespace {

// Runs f, expects an Error whose message contains every fragment.
template <class F>
void expect_error(F f, std::initializer_list<const char*> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const char* fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message '" << message << "' lacks '" << fragment << "'";
  }
}

TEST(Errors, ShapeMismatchesNameTheOpAndTheShapes) {
  expect_error([] { add(zeros({2, 3}), zeros({4})); }, {"add", "[2, 3]", "[4]"});
  expect_error([] { matmul(zeros({2, 3}), zeros({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_error([] { matmul(zeros({3}), zeros({3, 2})); }, {"matmul", "2 dims"});
  expect_error(
      [] {
        conv2d(zeros({1, 3, 8, 8}), zeros({4, 2, 3, 3}));
      },
      {"conv2d", "3 channels", "[4, 2, 3, 3]"});
  expect_error(
      [] {
        conv2d(zeros({3, 8, 8}), zeros({4, 3, 3, 3}));
      },
      {"conv2d", "4 dims", "[3, 8, 8]"});
  expect_error([] { conv2d(zeros({1, 1, 2, 2}), zeros({1, 1, 3, 3})); }, {"conv2d", "larger"});
  expect_error([] { linear(zeros({5, 3}), zeros({2, 4})); }, {"linear", "[5, 3]", "[2, 4]"});
  expect_error(
      [] {
        group_norm(zeros({2, 6, 4, 4}), 4);
      },
      {"group_norm", "6 channels", "4 groups"});
  expect_error([] { avg_pool2d(zeros({1, 1, 5, 4})); }, {"avg_pool2d", "even", "[1, 1, 5, 4]"});
  expect_error([] { concat({zeros({2, 3}), zeros({3, 3})}, 1); }, {"concat", "[3, 3]", "[2, 3]"});
  expect_error([] { split(zeros({5}), {2, 2}, 0); }, {"split", "sum to 4"});
  expect_error([] { mse_loss(zeros({2}), zeros({3})); }, {"mse_loss", "[2]", "[3]"});
  expect_error([] { zeros({2, 3}).view({4, 2}); }, {"view", "[4, 2]", "8 elements"});
  expect_error([] { sum(zeros({2, 3}), {2}); }, {"sum", "dim 2", "2 dims"});
}

TEST(Errors, DtypeMismatchesAreRefusedNotPromoted) {
  expect_error([] { add(zeros({2}), zeros({2}, DType::f64)); }, {"add", "f32", "f64"});
  expect_error(
      [] {
        matmul(zeros({2, 2}, DType::i64), zeros({2, 2}, DType::i64));
      },
      {"matmul", "floating", "i64"});
  expect_error([] { exp(zeros({2}, DType::i64)); }, {"exp", "floating", "i64"});
  expect_error([] { zeros({2}).data<double>(); }, {"data<f64>", "f32"});
  expect_error([] { index_select(zeros({3, 2}), 0, zeros({1})); }, {"index_select", "i64"});
}

TEST(Errors, DeviceMismatchesNameBothDevices) {
  float host = 0;
  // A tensor labelled cuda:0: the device check must fire before anything touches its memory.
  const Tensor on_gpu = Tensor::from_blob(&host, {1}, DType::f32, Device::cuda(0));
  expect_error([&] { add(zeros({1}), on_gpu); }, {"add", "cpu", "cuda:0"});
  expect_error(
      [&] {
        matmul(zeros({1, 1}), on_gpu.reshape({1, 1}));
      },
      {"matmul", "different devices"});
  expect_error(
      [&] {
        conv2d(zeros({1, 1, 1, 1}), on_gpu.reshape({1, 1, 1, 1}));
      },
      {"conv2d", "cuda:0"});
}

TEST(Errors, CudaWithoutACudaBuildIsAClearError) {
  if (cuda::compiled()) GTEST_SKIP() << "this build has CUDA";
  EXPECT_FALSE(cuda::available());
  expect_error([] { zeros({2}, DType::f32, Device::cuda(0)); }, {"without CUDA", "ONESTEP_CUDA"});
  expect_error([] { zeros({2}).to(Device::cuda(0)); }, {"without CUDA"});
  // A library error names no command-line flag: the onestep command adds "--device" itself.
  try {
    usable_device("cuda");
    FAIL() << "usable_device(\"cuda\") succeeded in a build without CUDA";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("device cuda: this build has no CUDA"), std::string::npos) << message;
    EXPECT_EQ(message.find("--"), std::string::npos) << message;
  }
}

TEST(Errors, IndicesOutOfRangeAreCaught) {
  expect_error(
      [] {
        index_select(zeros({3, 2}), 0, from_vector<int64_t>({0, 3}, {2}));
      },
      {"index_select", "index[1] = 3", "[0, 3)"});
  expect_error(
      [] {
        index_select(zeros({3, 2}), 0, from_vector<int64_t>({-1}, {1}));
      },
      {"index_select", "-1"});
  expect_error([] { zeros({3}).select(0, 3); }, {"select", "3"});
  expect_error([] { zeros({2, 3}).size(2); }, {"dim 2"});
}

TEST(Errors, BadScalarArgumentsAreCaught) {
  Rng gen(0);
  expect_error([] { clamp(zeros({1}), 1.0, 0.0); }, {"clamp"});
  expect_error([&] { dropout(zeros({1}), -0.1, true, gen); }, {"dropout", "[0, 1)"});
  expect_error([] { arange(0, 1, 0); }, {"arange"});
  expect_error(
      [] {
        conv2d(zeros({1, 1, 3, 3}), zeros({1, 1, 3, 3}), Tensor(), 0, 0);
      },
      {"conv2d", "stride"});
  expect_error([] { var(zeros({3}), {}, -1); }, {"var", "correction"});
  expect_error([] { Tensor().shape(); }, {"undefined"});
}

TEST(Errors, ShapesWhoseSizeOverflowsAreRefused) {
  expect_error([] { empty({int64_t{1} << 62, 4}); }, {"empty", "too large"});
  expect_error([] { empty({int64_t{1} << 40, 0, int64_t{1} << 40}); }, {"empty", "too large"});
  expect_error([] { zeros({int64_t{1} << 61}, DType::f64); }, {"too large"});
  expect_error([] { zeros({1}).expand({int64_t{1} << 62, 4}); }, {"expand", "too large"});
  float x = 0;
  expect_error(
      [&] {
        Tensor::from_blob(&x, {int64_t{1} << 62, 8}, DType::f32);
      },
      {"from_blob", "too large"});
}

}  // namespace
}  // namespace onestep
