#include "onestep/diffusion/image_folder.h"

#include <zlib.h>

#include <filesystem>
#include <system_error>
#include <vector>

#include "onestep/diffusion/image_io.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {

namespace {

struct NamedFile {
  std::string name;
  std::vector<uint8_t> bytes;
};

// Every image as an encoded PNG, then dataset.json when there are classes.
std::vector<NamedFile> sample_files(const Tensor& images, const Tensor& classes,
                                    const std::string& where) {
  ONESTEP_CHECK(images.defined() && images.dim() == 4 &&
                    (images.size(1) == 1 || images.size(1) == 3),
                "{}: expected images [N, 1 or 3, H, W], got {}", where,
                images.defined() ? shape_str(images.shape()) : "undefined");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  ONESTEP_CHECK(!classes.defined() || (classes.dtype() == DType::i64 && classes.dim() == 1 &&
                                       classes.size(0) == n),
                "{}: classes must be int64 [{}]", where, n);
  const std::vector<uint8_t> pixels = to_uint8_nhwc(images);
  const size_t per_image = static_cast<size_t>(h * w * c);
  std::vector<NamedFile> files;
  files.reserve(static_cast<size_t>(n) + 1);
  for (int64_t i = 0; i < n; ++i) {
    const std::string name = sample_png_name(i);
    files.push_back(
        {name, encode_png(pixels.data() + static_cast<size_t>(i) * per_image, h, w, c, name)});
  }
  if (classes.defined()) {
    const std::vector<int64_t> values = classes.to(Device::cpu()).to_vector<int64_t>();
    std::string json = "{\"labels\": [";
    for (int64_t i = 0; i < n; ++i)
      json += fmt::format("{}[\"{}\", {}]", i ? ", " : "", sample_png_name(i),
                          values[static_cast<size_t>(i)]);
    json += "]}\n";
    files.push_back({"dataset.json", std::vector<uint8_t>(json.begin(), json.end())});
  }
  return files;
}

void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v & 0xFF));
  out.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

}  // namespace

std::string sample_png_name(int64_t index) {
  return fmt::format("{:06d}.png", index);
}

void write_png_folder(const std::string& dir, const Tensor& images, const Tensor& classes) {
  const std::vector<NamedFile> files = sample_files(images, classes, dir);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  ONESTEP_CHECK(!error && std::filesystem::is_directory(dir), "{}: cannot create the folder ({})",
                dir, error ? error.message() : "a file of that name exists");
  for (const NamedFile& file : files)
    nn::write_file_atomically((std::filesystem::path(dir) / file.name).string(), file.bytes.data(),
                              file.bytes.size());
}

void write_png_zip(const std::string& path, const Tensor& images, const Tensor& classes) {
  const std::vector<NamedFile> files = sample_files(images, classes, path);
  ONESTEP_CHECK(files.size() <= 65535,
                "{}: {} files do not fit a zip without zip64 (at most 65,535); write a folder "
                "with --png-dir instead",
                path, files.size());
  // Fixed timestamps (1980-01-01 00:00, the DOS epoch) keep the archive deterministic.
  constexpr uint32_t kDosTime = 0, kDosDate = (0u << 9) | (1u << 5) | 1u;
  std::vector<uint8_t> zip, central;
  for (const NamedFile& file : files) {
    ONESTEP_CHECK(zip.size() + file.bytes.size() < 0xFFFF0000ull,
                  "{}: the archive would exceed 4 GiB (zip64 is not written); use --png-dir", path);
    const uint32_t offset = static_cast<uint32_t>(zip.size());
    const uint32_t size = static_cast<uint32_t>(file.bytes.size());
    const uint32_t crc = static_cast<uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), file.bytes.data(), static_cast<uInt>(file.bytes.size())));
    const uint32_t name_size = static_cast<uint32_t>(file.name.size());
    // Local file header: version 1.0, no flags, method 0 (stored).
    put32(zip, 0x04034b50);
    for (uint32_t v : {10u, 0u, 0u, kDosTime, kDosDate}) put16(zip, v);
    for (uint32_t v : {crc, size, size}) put32(zip, v);
    put16(zip, name_size);
    put16(zip, 0);
    zip.insert(zip.end(), file.name.begin(), file.name.end());
    zip.insert(zip.end(), file.bytes.begin(), file.bytes.end());
    // Its central directory entry.
    put32(central, 0x02014b50);
    for (uint32_t v : {20u, 10u, 0u, 0u, kDosTime, kDosDate}) put16(central, v);
    for (uint32_t v : {crc, size, size}) put32(central, v);
    for (uint32_t v : {name_size, 0u, 0u, 0u, 0u}) put16(central, v);
    put32(central, 0);  // external attributes
    put32(central, offset);
    central.insert(central.end(), file.name.begin(), file.name.end());
  }
  const uint32_t central_offset = static_cast<uint32_t>(zip.size());
  zip.insert(zip.end(), central.begin(), central.end());
  put32(zip, 0x06054b50);  // end of central directory
  const uint32_t count = static_cast<uint32_t>(files.size());
  for (uint32_t v : {0u, 0u, count, count}) put16(zip, v);
  put32(zip, static_cast<uint32_t>(central.size()));
  put32(zip, central_offset);
  put16(zip, 0);
  nn::write_file_atomically(path, zip.data(), zip.size());
}

}  // namespace onestep::diffusion
