// SampleScorer, what `onestep distill --eval-every` records: samples from the data score as the
// data does, a collapsed or noised set scores far worse, and the same samples always get the
// same score (the reference, projections and KID subsets are fixed by the seed).

#include "onestep/diffusion/sample_quality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "onestep/diffusion/datasets.h"
#include "onestep/engine.h"
#include "testing/temp_dir.h"

namespace onestep::diffusion {

using run::MetricValues;
using run::metric_value;
namespace {

TEST(SampleScorer, MixtureSamplesScoreAsTheDataAndACollapsedSetDoesNot) {
  const int64_t n = 2000;
  SampleScorer scorer("toy:25gaussians", "", n, 3);
  EXPECT_FALSE(scorer.images());
  auto data = open_dataset("toy:25gaussians");
  Rng gen(11);
  const Tensor samples = data->reference_sample(n, gen).x;
  const MetricValues good = scorer.score(samples);
  EXPECT_EQ(metric_value(good, "modes_covered"), 25);
  EXPECT_GT(metric_value(good, "high_quality"), 0.95);
  EXPECT_LT(metric_value(good, "swd"), 0.08);
  EXPECT_EQ(scorer.score(samples), good);  // the same directions every time
  EXPECT_NE(scorer.summary(good).find("modes 25/25"), std::string::npos) << scorer.summary(good);

  // Every sample on the mode nearest the origin: one mode, each sample "high quality", and a
  // distance that says what the mode count alone would miss.
  const Tensor collapsed = zeros({n, 2});
  const MetricValues bad = scorer.score(collapsed);
  EXPECT_EQ(metric_value(bad, "modes_covered"), 1);
  EXPECT_GT(metric_value(bad, "swd"), 10 * metric_value(good, "swd"));
  // Spread over the square between the modes: the high-quality fraction drops.
  const Tensor smeared = rand({n, 2}, gen) * 4.0 - 2.0;
  EXPECT_LT(metric_value(scorer.score(smeared), "high_quality"), 0.5);
}

TEST(SampleScorer, RefusesTheWrongNumberOfSamples) {
  SampleScorer scorer("toy:8gaussians", "", 100, 0);
  EXPECT_THROW(scorer.score(zeros({99, 2})), Error);
  EXPECT_THROW(SampleScorer("toy:8gaussians", "", 1, 0), Error);
  EXPECT_THROW(SampleScorer("fashion-mnist", "/nonexistent/features.safetensors", 100, 0), Error);
  EXPECT_TRUE(SampleScorer("fashion-mnist", "", 100, 0).images());  // the built-in network
}

TEST(SampleScorer, ImagesFromTheTrainingSetScoreNearZeroAndNoisedOnesDoNot) {
  // A copy of the committed network, so that the test-split feature cache is written here.
  const std::string dir = onestep::testing::fresh_temp_dir("sample_quality");
  std::filesystem::create_directories(dir);
  const std::string features = dir + "/features.safetensors";
  std::filesystem::copy_file(ONESTEP_FEATURES_ASSET, features);
  const int64_t n = 2000;
  SampleScorer scorer("fashion-mnist", features, n, 1);
  EXPECT_TRUE(scorer.images());
  EXPECT_TRUE(std::filesystem::exists(features + ".test-features.safetensors"));
  auto train = open_dataset("fashion-mnist");
  Rng gen(4);
  const Tensor images = train->reference_sample(n, gen).x;
  const MetricValues good = scorer.score(images);
  const MetricValues noised = scorer.score(clamp(images + randn(images.shape(), gen) * 0.3, -1, 1));
  EXPECT_LT(metric_value(good, "fid"), 0.5);  // 0.07 when written
  EXPECT_GT(metric_value(noised, "fid"), 2.0);  // 5.7
  EXPECT_GT(metric_value(noised, "fid"), 20 * metric_value(good, "fid"));
  EXPECT_GT(metric_value(noised, "kid"), metric_value(good, "kid") + 3 * metric_value(noised, "kid_se"));
  EXPECT_EQ(scorer.score(images), good);
  // The cache is read back: a second scorer gives the same numbers.
  SampleScorer again("fashion-mnist", features, n, 1);
  EXPECT_EQ(again.score(images), good);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace onestep::diffusion
