#pragma once
// How close a set of samples is to its dataset, with the same measures `onestep sample` and
// `onestep eval` report: for 2-D data the sliced Wasserstein distance to a reference sample and,
// for the Gaussian mixtures, the modes covered and the high-quality fraction; for images FID and
// KID in the committed feature network's space against the whole test split.
// `onestep distill --eval-every` scores its generator with it along a run.

#include <memory>
#include <string>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/feature_net.h"
#include "onestep/run/run.h"

namespace onestep::diffusion {

class SampleScorer {
 public:
  // data_spec: what the samples imitate. features_path: the feature network (read only for image
  // data; empty: the built-in one). n: the samples each score() gets (2-D data: the reference sample has as many points,
  // so the distance's noise floor stays put). The reference and the projections depend on seed
  // only: every score of a run is measured the same way. Throws onestep::Error on a bad spec or
  // feature network.
  SampleScorer(const std::string& data_spec, const std::string& features_path, int64_t n,
               uint64_t seed);

  // Keys: 2-D data "swd" (and "modes_covered", "high_quality" for the mixtures); images "fid",
  // "kid", "kid_se". samples: [n, ...] like the dataset's examples.
  run::MetricValues score(const Tensor& samples) const;
  // One short line of score()'s values for a progress line, e.g. "modes 25/25, hq 88.1%, swd
  // 0.041" or "FID 3.12".
  std::string summary(const run::MetricValues& values) const;

  int64_t samples() const { return n_; }
  bool images() const { return net_ != nullptr; }

 private:
  int64_t n_;
  uint64_t seed_;
  Tensor reference_;     // 2-D: reference points [n, 2]; images: test-split features [M, 128]
  Tensor mode_means_;    // the mixture's component means, when the data is one
  double mode_std_ = 0;  // and their standard deviation
  std::shared_ptr<FeatureNet> net_;
};

// The feature network's features of the test split of `spec`, cached beside the network file in
// "<features_path>.test-features.safetensors", or for the built-in network (kBuiltinFeatureNet)
// in $XDG_CACHE_HOME/onestep (else ~/.cache/onestep); recomputed when the cache was made from
// another dataset or another network, or cannot be read or written.
Tensor test_split_features(const FeatureNet& net, const std::string& features_path,
                           const std::string& spec);

}  // namespace onestep::diffusion
