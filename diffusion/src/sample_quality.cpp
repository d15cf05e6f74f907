#include "onestep/diffusion/sample_quality.h"

#include <cmath>
#include <cstdlib>

#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/image_metrics.h"
#include "onestep/diffusion/metrics2d.h"
#include "onestep/engine.h"
#include "onestep/run/run.h"
#include "onestep/nn/safetensors.h"

namespace onestep::diffusion {

using run::MetricValues;
using run::file_exists;
using run::join_path;
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

namespace {

// Where the test split's features under a network are kept: beside a network file, or for the
// built-in network in the user's cache folder ($XDG_CACHE_HOME/onestep, else ~/.cache/onestep);
// empty when there is nowhere to keep them.
std::string features_cache_path(const std::string& features_path) {
  if (features_path != kBuiltinFeatureNet) return features_path + ".test-features.safetensors";
  std::string folder;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    folder = join_path(xdg, "onestep");
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    folder = join_path(join_path(home, ".cache"), "onestep");
  } else {
    return "";
  }
  return join_path(folder, "builtin-feature-net.test-features.safetensors");
}

}  // namespace

Tensor test_split_features(const FeatureNet& net, const std::string& features_path,
                           const std::string& spec) {
  const std::string cache = features_cache_path(features_path);
  // The features of one network on one data set: a cache of another (a retrained file, a newer
  // built-in network) is recomputed.
  const std::string network = feature_net_identity(net);
  if (!cache.empty() && file_exists(cache)) {
    try {
      const auto content = nn::load_safetensors(cache);
      const auto data = content.metadata.find("data"), by = content.metadata.find("network");
      if (data != content.metadata.end() && data->second == spec &&
          by != content.metadata.end() && by->second == network && content.contains("features"))
        return content.at("features");
    } catch (const Error&) {
      // A damaged cache is recomputed.
    }
  }
  auto test = open_dataset(spec, DataOptions{0, false, true});
  Rng gen(0);
  const Tensor features = compute_features(net, test->reference_sample(test->info().size, gen).x);
  try {
    if (!cache.empty()) {
      run::ensure_directory(cache.substr(0, cache.find_last_of('/')));
      nn::save_safetensors(cache, {{"features", features}}, {{"data", spec}, {"network", network}});
    }
  } catch (const Error&) {
    // Nowhere writable (a read-only install, no home folder): recomputed next time.
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
  ONESTEP_CHECK(info.channels == 1 && info.height == 32 && info.width == 32,
                "sample scorer: the feature network reads one-channel 32x32 images; {} has "
                "{}x{}x{}",
                data_spec, info.channels, info.height, info.width);
  const std::string features = features_path.empty() ? kBuiltinFeatureNet : features_path;
  net_ = load_feature_net(features);
  reference_ = test_split_features(*net_, features, data_spec);
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
