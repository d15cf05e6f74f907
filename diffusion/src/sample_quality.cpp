#include "onestep/diffusion/sample_quality.h"

#include <cmath>

#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/image_metrics.h"
#include "onestep/diffusion/metrics2d.h"
#include "onestep/engine.h"
#include "onestep/nn/safetensors.h"

namespace onestep::diffusion {

using run::MetricValues;
using run::file_exists;
using run::metric_value;

namespace {

constexpr int64_t kProjections = 256;   // as `onestep sample`
constexpr int64_t kKidSubsets = 50;     // half of `onestep eval`'s: a curve needs the trend
constexpr int64_t kKidSubsetSize = 1000;

// Images as the metrics of `onestep eval` see them: rounded to 8 bits as `onestep sample` stores
// them (one channel, so NHWC bytes are NCHW).
Tensor quantise_to_8_bits(const Tensor& images) {
  const std::vector<uint8_t> bytes = to_uint8_nhwc(images);
  std::vector<float> values(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) values[i] = bytes[i] / 127.5f - 1.0f;
  return from_vector<float>(values, images.shape());
}

}  // namespace

Tensor test_split_features(const FeatureNet& net, const std::string& features_path,
                           const std::string& spec) {
  const std::string cache = features_path + ".test-features.safetensors";
  if (file_exists(cache)) {
    const auto content = nn::load_safetensors(cache);
    auto it = content.metadata.find("data");
    if (it != content.metadata.end() && it->second == spec && content.contains("features"))
      return content.at("features");
  }
  auto test = open_dataset(spec, DataOptions{0, false, true});
  Rng gen(0);
  const Tensor features = compute_features(net, test->reference_sample(test->info().size, gen).x);
  try {
    nn::save_safetensors(cache, {{"features", features}}, {{"data", spec}});
  } catch (const Error&) {
    // A read-only install: recomputed next time.
  }
  return features;
}

SampleScorer::SampleScorer(const std::string& data_spec, const std::string& features_path,
                           int64_t n, uint64_t seed)
    : n_(n), seed_(seed) {
  ONESTEP_CHECK(n >= 2, "sample scorer: need at least 2 samples, got {}", n);
  const DatasetInfo info = describe_dataset(data_spec);
  if (info.is_2d) {
    auto data = open_dataset(data_spec);
    Rng gen(seed);
    reference_ = data->reference_sample(n, gen).x.to(DType::f64);
    mode_means_ = toy_mixture_means(data_spec, &mode_std_);
    return;
  }
  ONESTEP_CHECK(!features_path.empty(),
                "sample scorer: image data ({}) needs the feature network; none was given",
                data_spec);
  ONESTEP_CHECK(info.channels == 1 && info.height == 32 && info.width == 32,
                "sample scorer: the feature network reads one-channel 32x32 images; {} has "
                "{}x{}x{}",
                data_spec, info.channels, info.height, info.width);
  net_ = load_feature_net(features_path);
  reference_ = test_split_features(*net_, features_path, data_spec);
}

MetricValues SampleScorer::score(const Tensor& samples) const {
  ONESTEP_CHECK(samples.defined() && samples.size(0) == n_,
                "sample scorer: expected {} samples, got {}", n_,
                samples.defined() ? shape_str(samples.shape()) : std::string("none"));
  NoGradGuard no_grad;
  MetricValues values;
  if (!images()) {
    const Tensor points = samples.to(Device::cpu()).to(DType::f64);
    Rng projections(seed_ + 1);  // the same directions at every score
    values.emplace_back("swd", sliced_wasserstein(points, reference_, kProjections, projections));
    if (mode_means_.defined()) {
      const ModeStats stats = mixture_mode_stats(points, mode_means_, mode_std_);
      values.emplace_back("modes_covered", static_cast<double>(stats.modes_covered));
      values.emplace_back("high_quality", stats.high_quality_fraction);
    }
    return values;
  }
  const Tensor features = compute_features(*net_, quantise_to_8_bits(samples));
  values.emplace_back("fid",
                      frechet_distance(gaussian_stats(reference_), gaussian_stats(features)));
  Rng subsets(seed_ + 2);
  const int64_t subset = std::min({kKidSubsetSize, n_, reference_.size(0)});
  const KernelDistance kid = kernel_distance(reference_, features, kKidSubsets, subset, subsets);
  values.emplace_back("kid", kid.mean);
  values.emplace_back("kid_se", kid.standard_error);
  return values;
}

std::string SampleScorer::summary(const MetricValues& values) const {
  const double fid = metric_value(values, "fid");
  if (std::isfinite(fid)) return fmt::format("FID {:.3f}", fid);
  std::string text;
  const double modes = metric_value(values, "modes_covered");
  if (std::isfinite(modes))
    text = fmt::format("modes {:.0f}/{}, hq {:.1f}%, ", modes, mode_means_.size(0),
                       100 * metric_value(values, "high_quality"));
  return text + fmt::format("swd {:.4f}", metric_value(values, "swd"));
}

}  // namespace onestep::diffusion
