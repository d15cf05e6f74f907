// Fashion-MNIST from its IDX files (gzip-compressed, as distributed, or plain), padded from
// 28x28 to 32x32 with black so that the UNet's resolutions halve evenly.

#include <algorithm>
#include <filesystem>

#include "gunzip.h"
#include "sources.h"
#include "onestep/diffusion/datasets.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {

namespace {

constexpr uint32_t kImagesMagic = 2051;  // 0x00000803: unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 2049;  // 0x00000801: unsigned bytes, 1 dimension
constexpr int64_t kSide = 28, kPadded = 32, kPad = (kPadded - kSide) / 2;
constexpr int64_t kClasses = 10;
// Far above the 47 MB of the training images; more is a damaged or hostile file.
constexpr size_t kMaxInflatedBytes = size_t{1} << 30;

bool ends_with_gz(const std::string& name) {
  return name.size() >= 3 && name.compare(name.size() - 3, 3, ".gz") == 0;
}

// An IDX file's bytes: decompressed when its name says it is gzip'ed.
std::vector<uint8_t> idx_contents(const std::vector<uint8_t>& file, const std::string& name) {
  if (!ends_with_gz(name)) return file;
  return detail::gunzip(file, fmt::format("Fashion-MNIST file '{}'", name), kMaxInflatedBytes);
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// The path of dir/name.gz, or of dir/name when only the uncompressed file is there.
std::string find_idx(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (name + ".gz"), plain = fs::path(dir) / name;
  std::error_code ec;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(plain, ec)) return plain.string();
  ONESTEP_FAIL(
      "Fashion-MNIST: missing file '{}' (the directory must hold the IDX files {}.gz and "
      "friends, as in Debian's dataset-fashion-mnist or github.com/zalandoresearch/fashion-mnist)",
      gz.string(), name);
}

// Checks an IDX file's magic and returns its first dimension (the item count).
uint32_t check_idx_header(const std::vector<uint8_t>& bytes, const std::string& path,
                          uint32_t magic, size_t header_bytes) {
  ONESTEP_CHECK(bytes.size() >= header_bytes,
                "Fashion-MNIST file '{}': truncated: {} bytes, the IDX header alone is {}", path,
                bytes.size(), header_bytes);
  const uint32_t got = read_be32(bytes.data());
  ONESTEP_CHECK(got == magic, "Fashion-MNIST file '{}': bad magic number {} (expected {})", path,
                got, magic);
  return read_be32(bytes.data() + 4);
}

void check_size(const std::vector<uint8_t>& bytes, const std::string& path, uint64_t expected,
                const char* what) {
  ONESTEP_CHECK(bytes.size() == expected,
                "Fashion-MNIST file '{}': {}: {} bytes, expected {} for the {} count in its header",
                path, bytes.size() < expected ? "truncated" : "trailing data", bytes.size(),
                expected, what);
}

}  // namespace

void detail::check_fashion_mnist_files(const std::string& dir) {
  find_idx(dir, "train-images-idx3-ubyte");
  find_idx(dir, "train-labels-idx1-ubyte");
}

ImageSet load_fashion_mnist(const std::string& dir, bool test_split) {
  const std::string prefix = test_split ? "t10k" : "train";
  const std::string images_path = find_idx(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx(dir, prefix + "-labels-idx1-ubyte");
  return parse_fashion_mnist(nn::read_file(images_path), images_path, nn::read_file(labels_path),
                             labels_path);
}

ImageSet parse_fashion_mnist(const std::vector<uint8_t>& images_file,
                             const std::string& images_path,
                             const std::vector<uint8_t>& labels_file,
                             const std::string& labels_path) {
  const std::vector<uint8_t> images = idx_contents(images_file, images_path);
  const std::vector<uint8_t> labels = idx_contents(labels_file, labels_path);

  const uint32_t n = check_idx_header(images, images_path, kImagesMagic, 16);
  const uint32_t rows = read_be32(images.data() + 8), cols = read_be32(images.data() + 12);
  ONESTEP_CHECK(rows == kSide && cols == kSide,
                "Fashion-MNIST file '{}': images are {}x{}, expected {}x{}", images_path, rows,
                cols, kSide, kSide);
  check_size(images, images_path, 16 + uint64_t{n} * kSide * kSide, "image");
  const uint32_t n_labels = check_idx_header(labels, labels_path, kLabelsMagic, 8);
  check_size(labels, labels_path, 8 + uint64_t{n_labels}, "label");
  ONESTEP_CHECK(n == n_labels, "Fashion-MNIST: '{}' has {} images but '{}' has {} labels",
                images_path, n, labels_path, n_labels);
  ONESTEP_CHECK(n > 0, "Fashion-MNIST file '{}' holds no images", images_path);

  ImageSet set;
  set.info.name = "fashion-mnist";
  set.info.channels = 1;
  set.info.height = set.info.width = kPadded;
  set.info.num_classes = kClasses;
  set.info.size = n;
  set.pixels.assign(size_t{n} * kPadded * kPadded, 0);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* src = images.data() + 16 + i * kSide * kSide;
    uint8_t* dst = set.pixels.data() + i * kPadded * kPadded + kPad * kPadded + kPad;
    for (int64_t y = 0; y < kSide; ++y) {
      std::copy(src + y * kSide, src + (y + 1) * kSide, dst + y * kPadded);
    }
  }
  set.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t label = labels[8 + i];
    ONESTEP_CHECK(label < kClasses, "Fashion-MNIST file '{}': label {} of item {} is not in 0..9",
                  labels_path, label, i);
    set.labels[i] = label;
  }
  return set;
}

}  // namespace onestep::diffusion
