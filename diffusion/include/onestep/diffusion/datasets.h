#pragma once
// Training data for diffusion: toy 2-D point clouds (generated), Fashion-MNIST (IDX), CIFAR-10
// (binary batches) and folders of PNG files. Formats and the exact toy definitions are in
// docs/DATASETS.md.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

struct DatasetInfo {
  std::string spec;    // as given by the user
  std::string name;    // "toy:25gaussians", "fashion-mnist", "cifar10", "png"
  bool is_2d = false;  // toy point data: x is f32 [N, 2]
  int64_t channels = 0, height = 0, width = 0;  // images: x is f32 [N, C, H, W] in [-1, 1]
  int64_t num_classes = 0;                      // 0 when unlabeled
  int64_t size = 0;  // training examples; 0 for an endless generated stream (toys)
};

struct Batch {
  Tensor x;       // f32 [N, 2] (toys) or [N, C, H, W] in [-1, 1] (images)
  Tensor labels;  // i64 [N]; undefined when unlabeled
};

struct DataOptions {
  uint64_t seed = 0;
  bool hflip = false;       // images: flip each training example horizontally with prob. 1/2
  bool test_split = false;  // Fashion-MNIST, CIFAR-10: the test set instead of the training set
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual const DatasetInfo& info() const = 0;

  // Next training batch. Images: each epoch visits a permutation of the whole set that depends
  // only on (seed, epoch), and a batch may wrap into the next epoch; with hflip each example is
  // flipped with probability 1/2 (also a function of (seed, epoch) only). Toys: fresh samples
  // from an Rng seeded with the seed.
  virtual Batch next_batch(int64_t batch_size) = 0;

  // The exact position in the stream, seed included, for bit-exact resume from a checkpoint.
  // restore() adopts it (the seed too) and throws onestep::Error on a state that is malformed or
  // belongs to another kind or size of dataset.
  virtual std::vector<int64_t> state() const = 0;
  virtual void restore(const std::vector<int64_t>& state) = 0;

  // n examples for evaluation or as a reference, drawn from `gen` without touching the training
  // stream. Toys: fresh samples. Images: a uniformly random subset without replacement when
  // n <= size (when n > size: whole shuffled passes, then a random subset of the rest), never
  // flipped, labels included.
  virtual Batch reference_sample(int64_t n, Rng& gen) const = 0;
};

// spec: "toy:8gaussians" | "toy:25gaussians" | "toy:swissroll" | "toy:checkerboard" |
// "toy:moons" | "fashion-mnist" (in /usr/share/datasets/fashion-mnist) | "fashion-mnist:DIR" |
// "cifar10:DIR" | "png:DIR". Throws onestep::Error on an unknown spec (listing the valid ones)
// and on missing or malformed files (naming the file and what is wrong).
std::unique_ptr<DataSource> open_dataset(const std::string& spec, const DataOptions& options = {});

// What open_dataset(spec) would give, checked without loading the data: the spec's syntax, that
// its folder exists, and the geometry of a sample (a PNG folder's first file stands for it).
// For a quick, clear refusal of a bad --data before any work; throws onestep::Error.
DatasetInfo describe_dataset(const std::string& spec);

// Data parallel: shard `index` of `count` of `source`'s training stream. next_batch(n) takes the
// next global batch of count*n examples from `source` and returns its rows [index*n,
// (index+1)*n): the shards are disjoint, together they are the stream one process would read,
// and every shard's position (state()) is the same, so one checkpoint serves every rank and any
// rank count. Each shard reads the whole global batch and keeps its rows: cheap for data held
// in memory, as every onestep dataset is. count == 1 returns `source` itself.
std::unique_ptr<DataSource> shard_data(std::unique_ptr<DataSource> source, int64_t index,
                                       int64_t count);
// shard_data for this process's rank of the current process group (onestep/run/process_group.h):
// `source` itself in a single process; null stays null.
std::unique_ptr<DataSource> shard_for_this_rank(std::unique_ptr<DataSource> source);

// The default Fashion-MNIST directory (Debian's dataset-fashion-mnist package).
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// --- Lower level: a whole image set in memory, as loaded from disk (used by open_dataset;
// exposed for evaluation tools that want the raw pixels, and for tests).
struct ImageSet {
  DatasetInfo info;             // size = number of images; spec left for the caller
  std::vector<uint8_t> pixels;  // uint8 [size, C, H, W]
  std::vector<int64_t> labels;  // [size], or empty when unlabeled
};

ImageSet load_fashion_mnist(const std::string& dir, bool test_split = false);
ImageSet load_cifar10(const std::string& dir, bool test_split = false);
ImageSet load_png_folder(const std::string& dir);

// The same parsers on bytes already in memory (the loaders read the files, then call these; the
// fuzz targets in fuzz/ call them directly). Paths only name the files in error messages.
// Fashion-MNIST: the images and labels IDX files, gzip-compressed when the path ends in ".gz".
ImageSet parse_fashion_mnist(const std::vector<uint8_t>& images_file,
                             const std::string& images_path,
                             const std::vector<uint8_t>& labels_file,
                             const std::string& labels_path);
// CIFAR-10: one binary batch file holding exactly `records` records.
ImageSet parse_cifar10_batch(const std::vector<uint8_t>& bytes, const std::string& path,
                             int64_t records);
// A PNG folder: its files decoded one at a time, in order, then assembled into one set.
class PngSetBuilder {
 public:
  explicit PngSetBuilder(std::string dir);
  void add(const std::string& path, const uint8_t* data, size_t size);
  ImageSet finish();  // throws onestep::Error when no file was added

 private:
  std::string dir_, first_name_;
  int64_t height_ = 0, width_ = 0, channels_ = 1;
  std::vector<std::vector<uint8_t>> decoded_;  // [H, W, c] per file
  std::vector<int64_t> file_channels_;         // c per file: 1 or 3
};

// A training stream over an in-memory image set (validates the set's sizes).
std::unique_ptr<DataSource> make_image_source(ImageSet set, const DataOptions& options = {});

// The toy point-cloud names accepted after "toy:".
const std::vector<std::string>& toy_dataset_names();
// n samples of toy `name` ("25gaussians", ...) as f32 [n, 2], drawn from gen.
Tensor sample_toy(const std::string& name, int64_t n, Rng& gen);
// The same points with their classes (i64 [n]) for the labelled toys: 8gaussians and
// 25gaussians (the mode, 8 and 25 classes), moons (the moon, 2); labels undefined for the others.
Batch sample_toy_batch(const std::string& name, int64_t n, Rng& gen);

}  // namespace onestep::diffusion
