// A folder of PNG files as an unlabeled image set: every *.png (any case) directly inside it,
// sorted by name, all the same size. Gray and colour files may mix; then every image is RGB.

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {

namespace {

bool has_png_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png";
}

}  // namespace

PngSetBuilder::PngSetBuilder(std::string dir) : dir_(std::move(dir)) {}

void PngSetBuilder::add(const std::string& path, const uint8_t* data, size_t size) {
  int64_t h = 0, w = 0, c = 0;
  std::vector<uint8_t> pixels = decode_png(data, size, path, &h, &w, &c);
  const std::string name = std::filesystem::path(path).filename().string();
  if (decoded_.empty()) {
    first_name_ = name;
    height_ = h;
    width_ = w;
  }
  ONESTEP_CHECK(h == height_ && w == width_,
                "PNG folder '{}': '{}' is {}x{} but '{}' is {}x{} (all images must be the same "
                "size)",
                dir_, first_name_, height_, width_, name, h, w);
  decoded_.push_back(std::move(pixels));
  file_channels_.push_back(c);
  channels_ = std::max(channels_, c);
}

ImageSet PngSetBuilder::finish() {
  ONESTEP_CHECK(!decoded_.empty(), "PNG folder '{}' holds no .png files", dir_);
  ImageSet set;
  set.info.name = "png";
  set.info.channels = channels_;
  set.info.height = height_;
  set.info.width = width_;
  set.info.size = static_cast<int64_t>(decoded_.size());
  const int64_t plane = height_ * width_;
  set.pixels.resize(static_cast<size_t>(set.info.size * channels_ * plane));
  for (size_t i = 0; i < decoded_.size(); ++i) {
    const int64_t c = file_channels_[i];
    uint8_t* dst = set.pixels.data() + static_cast<int64_t>(i) * channels_ * plane;
    // [H, W, c] -> [channels, H, W]; a gray image fills every channel.
    for (int64_t ch = 0; ch < channels_; ++ch) {
      const int64_t from = c == 1 ? 0 : ch;
      for (int64_t p = 0; p < plane; ++p) dst[ch * plane + p] = decoded_[i][p * c + from];
    }
    std::vector<uint8_t>().swap(decoded_[i]);  // keeps the peak near one copy of the set
  }
  decoded_.clear();
  file_channels_.clear();
  return set;
}

ImageSet load_png_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  ONESTEP_CHECK(fs::is_directory(dir, ec), "PNG folder '{}' does not exist or is not a directory",
                dir);
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && has_png_extension(it->path())) files.push_back(it->path());
  }
  ONESTEP_CHECK(!ec, "PNG folder '{}': cannot list it: {}", dir, ec.message());
  std::sort(files.begin(), files.end());
  PngSetBuilder builder(dir);
  for (const fs::path& file : files) {
    const std::vector<uint8_t> bytes = nn::read_file(file.string());
    builder.add(file.string(), bytes.data(), bytes.size());
  }
  return builder.finish();
}

}  // namespace onestep::diffusion
