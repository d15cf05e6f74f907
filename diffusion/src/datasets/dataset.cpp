// open_dataset (spec parsing) and the training stream over an in-memory image set: a fresh
// permutation per epoch drawn from (seed, epoch) alone, so a position (epoch, index) is the whole
// state and resume is exact.

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/engine/creation.h"
#include "sources.h"

namespace onestep::diffusion {

namespace {

// First element of every state vector, so a state of another kind of stream is refused.
constexpr int64_t kImageStateTag = 0x494d4731;  // "IMG1"
constexpr int64_t kImageStateSize = 5;          // tag, seed, size, epoch, position

// SplitMix64's finaliser: decorrelates nearby (seed, epoch) pairs before Philox sees them.
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Fisher-Yates from uniforms u[i] in [0, 1): the first `count` entries of `order` become a
// uniformly random selection (in random order) from all of it.
void partial_shuffle(std::vector<int64_t>& order, const std::vector<double>& u, int64_t count) {
  const auto n = static_cast<int64_t>(order.size());
  for (int64_t i = 0; i < count && i < n - 1; ++i) {
    const auto span = n - i;
    const auto j = i + std::min(span - 1, static_cast<int64_t>(u[i] * static_cast<double>(span)));
    std::swap(order[i], order[j]);
  }
}

class ImageSource final : public DataSource {
 public:
  ImageSource(ImageSet set, const DataOptions& options)
      : set_(std::move(set)), hflip_(options.hflip), seed_(options.seed) {
    const DatasetInfo& info = set_.info;
    ONESTEP_CHECK(info.size > 0 && info.channels > 0 && info.height > 0 && info.width > 0,
                  "image dataset '{}': empty or bad geometry: {} images of {}x{}x{}", info.name,
                  info.size, info.channels, info.height, info.width);
    image_bytes_ = info.channels * info.height * info.width;
    ONESTEP_CHECK(static_cast<int64_t>(set_.pixels.size()) == info.size * image_bytes_,
                  "image dataset '{}': {} pixel bytes for {} images of {} bytes", info.name,
                  set_.pixels.size(), info.size, image_bytes_);
    ONESTEP_CHECK(set_.labels.empty() || static_cast<int64_t>(set_.labels.size()) == info.size,
                  "image dataset '{}': {} labels for {} images", info.name, set_.labels.size(),
                  info.size);
    for (int v = 0; v < 256; ++v) lut_[v] = static_cast<float>(v / 127.5 - 1.0);
  }

  const DatasetInfo& info() const override { return set_.info; }

  Batch next_batch(int64_t batch_size) override {
    ONESTEP_CHECK(batch_size > 0, "next_batch: batch size must be positive, got {}", batch_size);
    Batch batch = allocate(batch_size);
    float* x = batch.x.data<float>();
    int64_t* labels = batch.labels.defined() ? batch.labels.data<int64_t>() : nullptr;
    for (int64_t k = 0; k < batch_size; ++k) {
      if (epoch_cached_ != epoch_) build_epoch(epoch_);
      const int64_t index = order_[position_];
      copy_image(index, hflip_ && flips_[position_], x + k * image_bytes_);
      if (labels) labels[k] = set_.labels[index];
      if (++position_ == set_.info.size) {
        position_ = 0;
        ++epoch_;
      }
    }
    return batch;
  }

  std::vector<int64_t> state() const override {
    return {kImageStateTag, static_cast<int64_t>(seed_), set_.info.size, epoch_, position_};
  }

  void restore(const std::vector<int64_t>& state) override {
    ONESTEP_CHECK(
        static_cast<int64_t>(state.size()) == kImageStateSize && state[0] == kImageStateTag,
        "restore: not the state of an image dataset ({} values)", state.size());
    ONESTEP_CHECK(state[2] == set_.info.size,
                  "restore: the state is for a dataset of {} images, '{}' has {}", state[2],
                  set_.info.name, set_.info.size);
    ONESTEP_CHECK(state[3] >= 0 && state[4] >= 0 && state[4] < set_.info.size,
                  "restore: bad position epoch {} index {} (dataset of {})", state[3], state[4],
                  set_.info.size);
    seed_ = static_cast<uint64_t>(state[1]);
    epoch_ = state[3];
    position_ = state[4];
    epoch_cached_ = -1;
  }

  Batch reference_sample(int64_t n, Rng& gen) const override {
    ONESTEP_CHECK(n > 0, "reference_sample: n must be positive, got {}", n);
    const int64_t size = set_.info.size;
    Batch batch = allocate(n);
    float* x = batch.x.data<float>();
    int64_t* labels = batch.labels.defined() ? batch.labels.data<int64_t>() : nullptr;
    std::vector<int64_t> order(static_cast<size_t>(size));
    for (int64_t done = 0; done < n;) {
      const int64_t take = std::min(size, n - done);
      for (int64_t i = 0; i < size; ++i) order[i] = i;
      partial_shuffle(order, rand({size}, gen, DType::f64).to_vector<double>(), take);
      for (int64_t k = 0; k < take; ++k, ++done) {
        copy_image(order[k], false, x + done * image_bytes_);
        if (labels) labels[done] = set_.labels[order[k]];
      }
    }
    return batch;
  }

 private:
  Batch allocate(int64_t n) const {
    const DatasetInfo& info = set_.info;
    Batch batch;
    batch.x = empty({n, info.channels, info.height, info.width}, DType::f32);
    if (!set_.labels.empty()) batch.labels = empty({n}, DType::i64);
    return batch;
  }

  // dst: f32 [C, H, W]
  void copy_image(int64_t index, bool flip, float* dst) const {
    const uint8_t* src = set_.pixels.data() + index * image_bytes_;
    if (!flip) {
      for (int64_t i = 0; i < image_bytes_; ++i) dst[i] = lut_[src[i]];
      return;
    }
    const int64_t w = set_.info.width, rows = set_.info.channels * set_.info.height;
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* s = src + r * w;
      float* d = dst + r * w;
      for (int64_t i = 0; i < w; ++i) d[i] = lut_[s[w - 1 - i]];
    }
  }

  // The permutation and flips of `epoch` depend only on (seed_, epoch); the permutation does not
  // depend on hflip.
  void build_epoch(int64_t epoch) {
    const int64_t size = set_.info.size;
    Rng gen(mix64(seed_ ^ mix64(static_cast<uint64_t>(epoch) + 0x5eed0fe90c4ULL)));
    order_.resize(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) order_[i] = i;
    partial_shuffle(order_, rand({size}, gen, DType::f64).to_vector<double>(), size);
    if (hflip_) {
      const std::vector<float> u = rand({size}, gen, DType::f32).to_vector<float>();
      flips_.resize(static_cast<size_t>(size));
      for (int64_t i = 0; i < size; ++i) flips_[i] = u[i] < 0.5f;
    }
    epoch_cached_ = epoch;
  }

  ImageSet set_;
  bool hflip_;
  uint64_t seed_;
  int64_t image_bytes_ = 0;
  float lut_[256];
  int64_t epoch_ = 0, position_ = 0;
  int64_t epoch_cached_ = -1;
  std::vector<int64_t> order_;
  std::vector<uint8_t> flips_;
};

std::string valid_specs() {
  std::string toys;
  for (const auto& name : toy_dataset_names()) toys += "toy:" + name + ", ";
  return toys + "fashion-mnist, fashion-mnist:DIR, cifar10:DIR, png:DIR";
}

// The 32 x 32 image datasets with ten classes (Fashion-MNIST padded, CIFAR-10).
DatasetInfo ten_classes_at_32px(DatasetInfo info, const char* name, int64_t channels) {
  info.name = name;
  info.channels = channels;
  info.height = info.width = 32;
  info.num_classes = 10;
  return info;
}

}  // namespace

std::unique_ptr<DataSource> make_image_source(ImageSet set, const DataOptions& options) {
  return std::make_unique<ImageSource>(std::move(set), options);
}

DatasetInfo describe_dataset(const std::string& spec) {
  namespace fs = std::filesystem;
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const bool has_arg = colon != std::string::npos;
  const std::string arg = has_arg ? spec.substr(colon + 1) : "";
  DatasetInfo info;
  info.spec = spec;
  std::error_code ec;
  if (kind == "toy" && has_arg) {
    const auto& names = toy_dataset_names();
    if (std::find(names.begin(), names.end(), arg) != names.end()) {
      info.name = spec;
      info.is_2d = true;
      return info;
    }
  } else if (kind == "fashion-mnist" && !(has_arg && arg.empty())) {
    const std::string dir = has_arg ? arg : kDefaultFashionMnistDir;
    ONESTEP_CHECK(
        fs::is_directory(dir, ec), "dataset '{}': folder '{}' does not exist{}", spec, dir,
        has_arg ? "" : " (install Debian's dataset-fashion-mnist, or pass fashion-mnist:DIR)");
    detail::check_fashion_mnist_files(dir);
    return ten_classes_at_32px(info, "fashion-mnist", 1);
  } else if (kind == "cifar10" && !arg.empty()) {
    ONESTEP_CHECK(fs::is_directory(arg, ec), "dataset '{}': folder '{}' does not exist", spec, arg);
    return ten_classes_at_32px(info, "cifar10", 3);
  } else if (kind == "png" && !arg.empty()) {
    ONESTEP_CHECK(fs::is_directory(arg, ec), "dataset '{}': folder '{}' does not exist", spec, arg);
    // The first file in name order stands for the folder (all must have its size).
    std::vector<fs::path> files;
    for (fs::directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec)) {
      std::string ext = it->path().extension().string();
      for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (ext == ".png" && it->is_regular_file(ec)) files.push_back(it->path());
    }
    ONESTEP_CHECK(!files.empty(), "dataset '{}': folder '{}' holds no .png files", spec, arg);
    const fs::path first = *std::min_element(files.begin(), files.end());
    read_png_file(first.string(), &info.height, &info.width, &info.channels);
    info.name = "png";
    return info;
  }
  ONESTEP_FAIL("unknown dataset '{}' (valid: {})", spec, valid_specs());
}

std::unique_ptr<DataSource> open_dataset(const std::string& spec, const DataOptions& options) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const bool has_arg = colon != std::string::npos;
  const std::string arg = has_arg ? spec.substr(colon + 1) : "";
  if (kind == "toy" && has_arg) {
    const auto& names = toy_dataset_names();
    if (std::find(names.begin(), names.end(), arg) != names.end()) {
      return detail::make_toy_source(spec, arg, options);
    }
  }
  ImageSet set;
  if (kind == "fashion-mnist" && !(has_arg && arg.empty())) {
    set = load_fashion_mnist(has_arg ? arg : kDefaultFashionMnistDir, options.test_split);
  } else if (kind == "cifar10" && !arg.empty()) {
    set = load_cifar10(arg, options.test_split);
  } else if (kind == "png" && !arg.empty()) {
    ONESTEP_CHECK(!options.test_split, "dataset '{}': a PNG folder has no test split", spec);
    set = load_png_folder(arg);
  } else {
    ONESTEP_FAIL("unknown dataset '{}' (valid: {})", spec, valid_specs());
  }
  set.info.spec = spec;
  return make_image_source(std::move(set), options);
}

}  // namespace onestep::diffusion
