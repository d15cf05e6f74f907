#pragma once
// The feature network behind every image metric (Inception weights cannot be downloaded here):
// a small CNN classifier for Fashion-MNIST trained by the engine with a fixed seed; its
// penultimate layer (128 channels after global average pooling) gives the features.
//   conv0 1->32 (32x32), pool, conv1 32->64 (16x16), pool, conv2 64->128 (8x8), pool,
//   conv3 128->128 (4x4), global average -> features [N, 128]; head: Linear 128 -> 10.
// Each conv: 3x3, GroupNorm, SiLU.

#include <map>
#include <memory>
#include <string>

#include "onestep/diffusion/datasets.h"
#include "onestep/nn/layers.h"

namespace onestep::diffusion {

class FeatureNet : public nn::Module {
 public:
  explicit FeatureNet(Rng& gen);
  Tensor features(const Tensor& images) const;  // [N, 1, 32, 32] in [-1, 1] -> [N, 128]
  Tensor logits(const Tensor& images) const;    // [N, 10]
  static constexpr int64_t kFeatures = 128;

 private:
  std::shared_ptr<nn::Conv2d> conv_[4];
  std::shared_ptr<nn::GroupNorm> norm_[4];
  std::shared_ptr<nn::Linear> head_;
};

struct FeatureTraining {
  int64_t epochs = 12;
  int64_t batch = 128;
  double lr = 2e-3;
  uint64_t seed = 0;
};

// Trains on the training split (with horizontal flips); prints progress lines on stderr.
std::shared_ptr<FeatureNet> train_feature_net(const std::string& data_spec,
                                              const FeatureTraining& options);
// Classification accuracy on the test split.
double feature_net_accuracy(const FeatureNet& net, const std::string& data_spec);

// Features of many images, batch by batch, without gradients: [N, 128].
Tensor compute_features(const FeatureNet& net, const Tensor& images, int64_t batch = 500);

void save_feature_net(const std::string& path, const FeatureNet& net,
                      const std::map<std::string, std::string>& metadata);

// The name that stands for the feature network built into the library (the committed
// assets/fmnist-features.safetensors, 12 epochs, seed 0): the default wherever one is needed.
inline constexpr const char* kBuiltinFeatureNet = "builtin";
struct BuiltinBytes {
  const unsigned char* data;
  size_t size;
};
// The built-in network's safetensors file, as compiled in.
BuiltinBytes builtin_feature_net_bytes();

// The network saved at `path`, or with kBuiltinFeatureNet the built-in one.
std::shared_ptr<FeatureNet> load_feature_net(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);
// What identifies a feature network's weights, for caches of features: a CRC-32 of its tensors'
// names and values (the same for the built-in network and a copy of its file).
std::string feature_net_identity(const FeatureNet& net);

}  // namespace onestep::diffusion
