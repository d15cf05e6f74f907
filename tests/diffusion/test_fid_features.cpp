// FID with the committed Fashion-MNIST feature network: near zero between random halves of the
// test set, small between the training and test sets, and growing monotonically as test images
// are blurred or noised.

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/feature_net.h"
#include "onestep/diffusion/image_metrics.h"
#include "onestep/diffusion/sample_quality.h"
#include "onestep/engine.h"
#include "onestep/nn/safetensors.h"

namespace onestep::diffusion {
namespace {

class FidWithFeatures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::map<std::string, std::string> meta;
    net_ = load_feature_net(ONESTEP_FEATURES_ASSET, &meta);
    accuracy_ = std::stod(meta.at("accuracy"));
    auto test = open_dataset("fashion-mnist", DataOptions{0, false, true});
    Rng gen(5);
    test_images_ = new Tensor(test->reference_sample(10000, gen).x);
  }
  static void TearDownTestSuite() {
    delete test_images_;
    net_.reset();
  }
  static GaussianStats stats(const Tensor& images) {
    return gaussian_stats(compute_features(*net_, images));
  }

  static std::shared_ptr<FeatureNet> net_;
  static double accuracy_;
  static Tensor* test_images_;
};
std::shared_ptr<FeatureNet> FidWithFeatures::net_;
double FidWithFeatures::accuracy_ = 0;
Tensor* FidWithFeatures::test_images_ = nullptr;

// 3x3 box blur applied `times` times (edges replicated by zero-padding the offset; a mild blur).
Tensor blur(const Tensor& images, int times) {
  const Tensor kernel = full({1, 1, 3, 3}, 1.0 / 9.0);
  Tensor x = images;
  for (int i = 0; i < times; ++i)
    x = conv2d(x + 1.0, kernel, Tensor(), 1, 1) - 1.0;  // blur in [0, 2]
  return x;
}

// The network built into the library is the committed file, byte for byte, and loads as it.
TEST(BuiltinFeatureNet, IsTheCommittedAssetAndLoadsTheSameWeights) {
  std::ifstream in(ONESTEP_FEATURES_ASSET, std::ios::binary);
  const std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const BuiltinBytes built_in = builtin_feature_net_bytes();
  ASSERT_EQ(built_in.size, file.size());
  EXPECT_EQ(std::memcmp(built_in.data, file.data(), file.size()), 0);
  std::map<std::string, std::string> meta;
  const auto from_file = load_feature_net(ONESTEP_FEATURES_ASSET);
  const auto builtin = load_feature_net(kBuiltinFeatureNet, &meta);
  EXPECT_EQ(meta.at("kind"), "onestep-feature-net");
  const nn::NamedTensors a = from_file->state_dict(), b = builtin->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(amax(abs(a[i].second - b[i].second)).item(), 0.0) << a[i].first;
  }
  EXPECT_EQ(feature_net_identity(*builtin), feature_net_identity(*from_file));
}

// The cache of the test split's features belongs to one network: features cached under another
// (a retrained file) are not reused.
TEST(BuiltinFeatureNet, CachedTestFeaturesAreKeptPerNetwork) {
  const std::string dir = ::testing::TempDir() + "/onestep_feature_cache";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string copy = dir + "/features.safetensors";
  std::filesystem::copy_file(ONESTEP_FEATURES_ASSET, copy);
  const auto net = load_feature_net(copy);
  const Tensor first = test_split_features(*net, copy, "fashion-mnist");
  const std::string cache = copy + ".test-features.safetensors";
  ASSERT_TRUE(std::filesystem::exists(cache));
  // Poison the cached features: while the network is the same they are read back as they are.
  const nn::SafetensorsContent cached = nn::load_safetensors(cache);
  nn::save_safetensors(cache, {{"features", cached.at("features") * 0.0}}, cached.metadata);
  EXPECT_EQ(amax(abs(test_split_features(*net, copy, "fashion-mnist"))).item(), 0.0);
  // Another network in the same file (one weight changed): the cache is recomputed.
  nn::NamedTensors weights = net->state_dict();
  weights[0].second = weights[0].second + 1e-3;
  nn::save_safetensors(copy, weights, {{"kind", "onestep-feature-net"}});
  const auto changed = load_feature_net(copy);
  EXPECT_GT(amax(abs(test_split_features(*changed, copy, "fashion-mnist"))).item(), 0.0);
  EXPECT_EQ(first.size(0), 10000);
}

TEST_F(FidWithFeatures, TheAssetRecordsItsAccuracy) {
  EXPECT_GE(accuracy_, 0.91);
}

TEST_F(FidWithFeatures, RandomHalvesOfTheTestSetAreNearZero) {
  const Tensor& all = *test_images_;
  const double halves =
      frechet_distance(stats(all.slice(0, 0, 5000)), stats(all.slice(0, 5000, 10000)));
  Rng gen(6);
  const double noised =
      frechet_distance(stats(all.slice(0, 0, 5000)),
                       stats(all.slice(0, 5000, 10000) + randn({5000, 1, 32, 32}, gen) * 0.1));
  std::printf("FID between test halves %.4f; with noise 0.1 on one half %.4f\n", halves, noised);
  EXPECT_LT(halves, 0.05 * noised);
}

TEST_F(FidWithFeatures, TrainingSetAgainstTestSetIsSmall) {
  auto train = open_dataset("fashion-mnist", DataOptions{0, false, false});
  Rng gen(7);
  const Tensor train_images = train->reference_sample(10000, gen).x;
  const double fid = frechet_distance(stats(train_images), stats(*test_images_));
  Rng noise_gen(8);
  const double noised = frechet_distance(
      stats(*test_images_ + randn({10000, 1, 32, 32}, noise_gen) * 0.1), stats(*test_images_));
  std::printf("FID training vs test set (10k each): %.4f; test vs test + noise 0.1: %.4f\n", fid,
              noised);
  EXPECT_LT(fid, 0.1 * noised);
}

TEST_F(FidWithFeatures, GrowsMonotonicallyWithCorruption) {
  const Tensor reference = test_images_->slice(0, 0, 5000),
               images = test_images_->slice(0, 5000, 10000);
  const GaussianStats base = stats(reference);
  Rng gen(9);
  const Tensor noise = randn(images.shape(), gen);
  double previous = frechet_distance(base, stats(images));
  for (double sigma : {0.05, 0.1, 0.2, 0.4}) {
    const double fid = frechet_distance(base, stats(clamp(images + noise * sigma, -1.0, 1.0)));
    EXPECT_GT(fid, previous) << "noise " << sigma;
    previous = fid;
  }
  previous = frechet_distance(base, stats(images));
  for (int times : {1, 2, 4}) {
    const double fid = frechet_distance(base, stats(blur(images, times)));
    EXPECT_GT(fid, previous) << "blur x" << times;
    previous = fid;
  }
}

}  // namespace
}  // namespace onestep::diffusion
