#include "onestep/diffusion/feature_net.h"

#include <zlib.h>

#include <chrono>

#include "onestep/diffusion/edm.h"
#include "onestep/run/run.h"
#include "onestep/engine.h"
#include "onestep/nn/optimizer.h"
#include "onestep/nn/safetensors.h"

namespace onestep::diffusion {

using run::Progress;

FeatureNet::FeatureNet(Rng& gen) {
  const int64_t channels[5] = {1, 32, 64, 128, 128};
  const nn::Init init{nn::InitMode::kaiming_uniform, 1.0, 0.0};
  nn::Conv2d::Options conv3;
  for (int i = 0; i < 4; ++i) {
    conv_[i] = register_module(
        fmt::format("conv{}", i),
        std::make_shared<nn::Conv2d>(channels[i], channels[i + 1], conv3, init, gen));
    norm_[i] =
        register_module(fmt::format("norm{}", i), std::make_shared<nn::GroupNorm>(channels[i + 1]));
  }
  head_ = register_module("head", std::make_shared<nn::Linear>(kFeatures, 10, true, init, gen));
}

Tensor FeatureNet::features(const Tensor& images) const {
  ONESTEP_CHECK(
      images.dim() == 4 && images.size(1) == 1 && images.size(2) == 32 && images.size(3) == 32,
      "feature network: images must be [N, 1, 32, 32] (Fashion-MNIST padded), got {}",
      shape_str(images.shape()));
  Tensor x = images;
  for (int i = 0; i < 4; ++i) {
    x = silu(norm_[i]->forward(conv_[i]->forward(x)));
    if (i < 3) x = avg_pool2d(x);
  }
  return mean(x, {2, 3});
}

Tensor FeatureNet::logits(const Tensor& images) const {
  return head_->forward(features(images));
}

std::shared_ptr<FeatureNet> train_feature_net(const std::string& data_spec,
                                              const FeatureTraining& o) {
  ONESTEP_CHECK(o.epochs >= 1 && o.batch >= 1 && o.lr > 0,
                "feature network: bad training settings");
  auto data = open_dataset(data_spec, DataOptions{o.seed, true, false});
  const DatasetInfo info = data->info();
  ONESTEP_CHECK(info.num_classes == 10 && info.channels == 1 && info.height == 32,
                "feature network: {} is not Fashion-MNIST-shaped (10 classes, 1x32x32)", data_spec);
  Rng gen(o.seed);
  auto net = std::make_shared<FeatureNet>(gen);
  nn::Adam adam(net->parameters(), nn::AdamOptions{o.lr, 0.9, 0.999, 1e-8, 0.0});
  const int64_t steps = o.epochs * info.size / o.batch;
  Progress progress("features");
  double running = 0;
  for (int64_t step = 0; step < steps; ++step) {
    // Cosine decay: the last epochs settle the weights.
    adam.set_learning_rate(
        o.lr * 0.5 * (1 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(steps))));
    const Batch batch = data->next_batch(o.batch);
    adam.zero_grad();
    const Tensor log_p = log_softmax(net->logits(batch.x), 1);
    const Tensor picked = sum(log_p * one_hot(batch.labels, 10), {1});
    const Tensor loss = neg(mean(picked));
    loss.backward();
    adam.step();
    running = step == 0 ? loss.item() : 0.98 * running + 0.02 * loss.item();
    if ((step + 1) % 100 == 0 || step + 1 == steps)
      progress.update(static_cast<double>(step + 1) / static_cast<double>(steps),
                      progress.elapsed_seconds() / static_cast<double>(step + 1) *
                          static_cast<double>(steps - step - 1),
                      fmt::format("step {}/{} | cross-entropy {:.4f}", step + 1, steps, running));
  }
  progress.finish();
  net->eval();
  return net;
}

double feature_net_accuracy(const FeatureNet& net, const std::string& data_spec) {
  auto test = open_dataset(data_spec, DataOptions{0, false, true});
  Rng gen(0);
  const Batch all = test->reference_sample(test->info().size, gen);
  NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < all.x.size(0); begin += 500) {
    const int64_t end = std::min(all.x.size(0), begin + 500);
    const Tensor logits = net.logits(all.x.slice(0, begin, end));
    const Tensor best = amax(logits, {1}, true);
    const Tensor predicted =
        sum(ge(logits, best) * arange(0, 10, 1), {1});  // argmax (no ties in practice)
    correct += static_cast<int64_t>(
        sum(eq(predicted.to(DType::i64), all.labels.slice(0, begin, end))).item());
  }
  return static_cast<double>(correct) / static_cast<double>(all.x.size(0));
}

Tensor compute_features(const FeatureNet& net, const Tensor& images, int64_t batch) {
  NoGradGuard no_grad;
  std::vector<Tensor> pieces;
  for (int64_t begin = 0; begin < images.size(0); begin += batch)
    pieces.push_back(net.features(
        images.slice(0, begin, std::min(images.size(0), begin + batch)).to(DType::f32)));
  return concat(pieces, 0);
}

void save_feature_net(const std::string& path, const FeatureNet& net,
                      const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> all = metadata;
  all["kind"] = "onestep-feature-net";
  nn::save_safetensors(path, net.state_dict(), all);
}

namespace {

bool is_builtin(const std::string& path) { return path == kBuiltinFeatureNet; }

nn::SafetensorsContent read_feature_net_file(const std::string& path) {
  if (!is_builtin(path)) return nn::load_safetensors(path);
  const BuiltinBytes bytes = builtin_feature_net_bytes();
  return nn::parse_safetensors(bytes.data, bytes.size, "the built-in feature network");
}

}  // namespace

std::string feature_net_identity(const FeatureNet& net) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, tensor] : net.state_dict()) {
    // The name with its terminating NUL, so that names and values cannot run into each other.
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(name.c_str()), name.size() + 1);
    const Tensor host = tensor.detach().to(Device::cpu()).contiguous();
    crc = crc32_z(crc, static_cast<const Bytef*>(host.raw_data()),
                  static_cast<size_t>(host.numel()) * dtype_size(host.dtype()));
  }
  return fmt::format("crc32:{:08x}", static_cast<uint32_t>(crc));
}

std::shared_ptr<FeatureNet> load_feature_net(const std::string& path,
                                             std::map<std::string, std::string>* metadata) {
  const nn::SafetensorsContent content = read_feature_net_file(path);
  auto kind = content.metadata.find("kind");
  ONESTEP_CHECK(kind != content.metadata.end() && kind->second == "onestep-feature-net",
                "{} is not a onestep feature network", path);
  Rng unused(0);
  auto net = std::make_shared<FeatureNet>(unused);
  try {
    net->load_state_dict(content.tensors);
  } catch (const Error& e) {
    ONESTEP_FAIL("{}: {}", path, e.what());
  }
  net->eval();
  if (metadata) *metadata = content.metadata;
  return net;
}

}  // namespace onestep::diffusion
