// Fashion-MNIST from its IDX files (gzip-compressed, as distributed, or plain), padded from
// 28x28 to 32x32 with black so that the UNet's resolutions halve evenly.

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <limits>

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

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// The decompressed contents of a gzip (or zlib) file held in memory; every member of a
// multi-member gzip file in turn.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  std::vector<uint8_t> out;
  if (in.size() >= 4) {
    // The gzip trailer's ISIZE (size mod 2^32) is only a hint for the first allocation.
    const uint8_t* t = in.data() + in.size() - 4;
    const size_t hint =
        uint32_t{t[0]} | (uint32_t{t[1]} << 8) | (uint32_t{t[2]} << 16) | (uint32_t{t[3]} << 24);
    out.reserve(std::min(hint, size_t{256} << 20));
  }
  z_stream zs{};
  // 15 + 32: the largest window, gzip or zlib header detected automatically.
  ONESTEP_CHECK(inflateInit2(&zs, 15 + 32) == Z_OK, "'{}': zlib inflateInit2 failed", path);
  zs.next_in = const_cast<Bytef*>(in.data());
  size_t consumed = 0;
  int rc = Z_OK;
  std::string error;
  while (true) {
    const size_t remaining = in.size() - consumed;
    zs.next_in = const_cast<Bytef*>(in.data() + consumed);
    zs.avail_in = static_cast<uInt>(std::min<size_t>(remaining, std::numeric_limits<uInt>::max()));
    if (out.size() == out.capacity()) out.reserve(std::max<size_t>(out.size() * 2, 1 << 20));
    const size_t before = out.size();
    out.resize(out.capacity());
    zs.next_out = out.data() + before;
    zs.avail_out =
        static_cast<uInt>(std::min<size_t>(out.size() - before, std::numeric_limits<uInt>::max()));
    const uInt avail_in = zs.avail_in, avail_out = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    consumed += avail_in - zs.avail_in;
    out.resize(before + (avail_out - zs.avail_out));
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow; anything else after the end is damage.
      if (consumed == in.size()) break;
      if (in.size() - consumed >= 2 && in[consumed] == 0x1f && in[consumed + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      error = fmt::format("{} bytes of garbage after the end of the compressed data",
                          in.size() - consumed);
      break;
    }
    if (rc == Z_BUF_ERROR) {  // no progress possible: the input ran out
      error = "truncated gzip data (the compressed stream ends early)";
      break;
    }
    if (rc != Z_OK) {
      error = fmt::format("corrupt gzip data ({})", zs.msg ? zs.msg : zError(rc));
      break;
    }
    if (out.size() > kMaxInflatedBytes) {
      error = fmt::format("decompresses to more than {} bytes", kMaxInflatedBytes);
      break;
    }
  }
  inflateEnd(&zs);
  ONESTEP_CHECK(error.empty(), "Fashion-MNIST file '{}': {}", path, error);
  return out;
}

// dir/name.gz, or dir/name when only the uncompressed file is there.
std::vector<uint8_t> read_idx(const std::string& dir, const std::string& name, std::string* path) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (name + ".gz"), plain = fs::path(dir) / name;
  std::error_code ec;
  if (fs::exists(gz, ec)) {
    *path = gz.string();
    return gunzip(nn::read_file(*path), *path);
  }
  if (fs::exists(plain, ec)) {
    *path = plain.string();
    return nn::read_file(*path);
  }
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

ImageSet load_fashion_mnist(const std::string& dir, bool test_split) {
  const std::string prefix = test_split ? "t10k" : "train";
  std::string images_path, labels_path;
  const std::vector<uint8_t> images = read_idx(dir, prefix + "-images-idx3-ubyte", &images_path);
  const std::vector<uint8_t> labels = read_idx(dir, prefix + "-labels-idx1-ubyte", &labels_path);

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
