// A folder of PNG files as an image set: every *.png (any case) in it or its subfolders, sorted
// by relative path, all the same size; gray and colour files may mix (then every image is RGB).
// That is the layout of an unpacked EDM / StyleGAN dataset (dataset_tool.py: 00000/img00000000.png
// ...), whose dataset.json ({"labels": [["00000/img00000000.png", 3], ...]} or {"labels": null})
// labels the images when present; and of `onestep sample --png-dir`.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

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

namespace {

// The labels of dataset.json for `names` (relative paths with '/'), or none when the file is
// absent or its labels are null.
std::vector<int64_t> dataset_json_labels(const std::filesystem::path& json_path,
                                         const std::vector<std::string>& names) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(json_path, ec)) return {};
  const std::vector<uint8_t> bytes = nn::read_file(json_path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    ONESTEP_FAIL("{}: not valid JSON ({})", json_path.string(), e.what());
  }
  ONESTEP_CHECK(j.is_object() && j.contains("labels"), "{}: expected {{\"labels\": ...}}",
                json_path.string());
  if (j["labels"].is_null()) return {};
  std::map<std::string, int64_t> by_name;
  try {
    for (const auto& entry : j["labels"]) {
      ONESTEP_CHECK(entry.is_array() && entry.size() == 2 && entry[1].is_number_integer() &&
                        entry[1].get<int64_t>() >= 0 && entry[1].get<int64_t>() < (1 << 20),
                    "{}: each label must be [file name, class in [0, 2^20)], got {}",
                    json_path.string(), entry.dump());
      by_name[entry[0].get<std::string>()] = entry[1].get<int64_t>();
    }
  } catch (const nlohmann::json::exception& e) {
    ONESTEP_FAIL("{}: malformed labels ({})", json_path.string(), e.what());
  }
  std::vector<int64_t> labels;
  labels.reserve(names.size());
  for (const std::string& name : names) {
    const auto it = by_name.find(name);
    ONESTEP_CHECK(it != by_name.end(), "{}: no label for '{}'", json_path.string(), name);
    labels.push_back(it->second);
  }
  return labels;
}

}  // namespace

ImageSet load_png_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  ONESTEP_CHECK(fs::is_directory(dir, ec), "PNG folder '{}' does not exist or is not a directory",
                dir);
  std::vector<std::pair<std::string, fs::path>> files;  // relative name, path
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && has_png_extension(it->path()))
      files.emplace_back(it->path().lexically_relative(dir).generic_string(), it->path());
  }
  ONESTEP_CHECK(!ec, "PNG folder '{}': cannot list it: {}", dir, ec.message());
  std::sort(files.begin(), files.end());
  PngSetBuilder builder(dir);
  std::vector<std::string> names;
  for (const auto& [name, file] : files) {
    const std::vector<uint8_t> bytes = nn::read_file(file.string());
    builder.add(file.string(), bytes.data(), bytes.size());
    names.push_back(name);
  }
  ImageSet set = builder.finish();
  set.labels = dataset_json_labels(fs::path(dir) / "dataset.json", names);
  if (!set.labels.empty())
    set.info.num_classes = *std::max_element(set.labels.begin(), set.labels.end()) + 1;
  return set;
}

}  // namespace onestep::diffusion
