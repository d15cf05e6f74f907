// CIFAR-10, binary version: five training batches and one test batch of 10000 records, each
// a label byte then the 32x32 red, green and blue planes (already [C, H, W]).

#include <filesystem>
#include <limits>

#include "onestep/diffusion/datasets.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {

namespace {

constexpr int64_t kSide = 32, kChannels = 3, kClasses = 10;
constexpr int64_t kImageBytes = kChannels * kSide * kSide;  // 3072
constexpr int64_t kRecordBytes = 1 + kImageBytes;           // 3073
constexpr int64_t kRecordsPerFile = 10000;

}  // namespace

ImageSet parse_cifar10_batch(const std::vector<uint8_t>& bytes, const std::string& path,
                             int64_t records) {
  ONESTEP_CHECK(records >= 1 && records <= std::numeric_limits<int64_t>::max() / kRecordBytes,
                "CIFAR-10 file '{}': bad expected record count {}", path, records);
  const auto size = static_cast<int64_t>(bytes.size());
  const int64_t expected = records * kRecordBytes;
  ONESTEP_CHECK(size == expected,
                "CIFAR-10 file '{}': {}: {} bytes{}, expected {} ({} records of {} bytes)", path,
                size < expected ? "truncated" : "too long", size,
                size % kRecordBytes ? " (not a whole number of records)" : "", expected, records,
                kRecordBytes);
  ImageSet set;
  set.info.name = "cifar10";
  set.info.channels = kChannels;
  set.info.height = set.info.width = kSide;
  set.info.num_classes = kClasses;
  set.info.size = records;
  set.pixels.resize(static_cast<size_t>(records * kImageBytes));
  set.labels.resize(static_cast<size_t>(records));
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* record = bytes.data() + r * kRecordBytes;
    ONESTEP_CHECK(record[0] < kClasses, "CIFAR-10 file '{}': record {} has label {} (not 0..9)",
                  path, r, record[0]);
    set.labels[r] = record[0];
    std::copy(record + 1, record + kRecordBytes, set.pixels.data() + r * kImageBytes);
  }
  return set;
}

ImageSet load_cifar10(const std::string& dir, bool test_split) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  if (test_split) {
    names = {"test_batch.bin"};
  } else {
    for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  }
  // The archive unpacks into cifar-10-batches-bin/; accept its parent directory too.
  std::error_code ec;
  fs::path root(dir);
  if (!fs::exists(root / names[0], ec) &&
      fs::exists(root / "cifar-10-batches-bin" / names[0], ec)) {
    root /= "cifar-10-batches-bin";
  }

  ImageSet set;
  set.info.name = "cifar10";
  set.info.channels = kChannels;
  set.info.height = set.info.width = kSide;
  set.info.num_classes = kClasses;
  set.pixels.reserve(static_cast<size_t>(names.size() * kRecordsPerFile * kImageBytes));
  set.labels.reserve(static_cast<size_t>(names.size() * kRecordsPerFile));
  for (const auto& name : names) {
    const std::string path = (root / name).string();
    ONESTEP_CHECK(fs::is_regular_file(path, ec),
                  "CIFAR-10: missing file '{}' (expected the binary version: data_batch_1..5.bin "
                  "and test_batch.bin from cifar-10-binary.tar.gz)",
                  path);
    const ImageSet batch = parse_cifar10_batch(nn::read_file(path), path, kRecordsPerFile);
    set.pixels.insert(set.pixels.end(), batch.pixels.begin(), batch.pixels.end());
    set.labels.insert(set.labels.end(), batch.labels.begin(), batch.labels.end());
  }
  set.info.size = static_cast<int64_t>(set.labels.size());
  return set;
}

}  // namespace onestep::diffusion
