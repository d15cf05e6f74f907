// A folder of PNG files as an unlabeled image set: every *.png (any case) directly inside it,
// sorted by name, all the same size. Gray and colour files may mix; then every image is RGB.

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/image_io.h"

namespace onestep::diffusion {

namespace {

bool has_png_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png";
}

}  // namespace

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
  ONESTEP_CHECK(!files.empty(), "PNG folder '{}' holds no .png files", dir);
  std::sort(files.begin(), files.end());

  // Decoded [H, W, c] per file, c its own channel count (1 or 3).
  std::vector<std::vector<uint8_t>> decoded(files.size());
  std::vector<int64_t> file_channels(files.size());
  int64_t height = 0, width = 0, channels = 1;
  for (size_t i = 0; i < files.size(); ++i) {
    int64_t h = 0, w = 0, c = 0;
    decoded[i] = read_png_file(files[i].string(), &h, &w, &c);
    if (i == 0) {
      height = h;
      width = w;
    }
    ONESTEP_CHECK(h == height && w == width,
                  "PNG folder '{}': '{}' is {}x{} but '{}' is {}x{} (all images must be the same "
                  "size)",
                  dir, files[0].filename().string(), height, width, files[i].filename().string(), h,
                  w);
    file_channels[i] = c;
    channels = std::max(channels, c);
  }

  ImageSet set;
  set.info.name = "png";
  set.info.channels = channels;
  set.info.height = height;
  set.info.width = width;
  set.info.size = static_cast<int64_t>(files.size());
  const int64_t plane = height * width;
  set.pixels.resize(static_cast<size_t>(set.info.size * channels * plane));
  for (size_t i = 0; i < files.size(); ++i) {
    const int64_t c = file_channels[i];
    uint8_t* dst = set.pixels.data() + static_cast<int64_t>(i) * channels * plane;
    // [H, W, c] -> [channels, H, W]; a gray image fills every channel.
    for (int64_t ch = 0; ch < channels; ++ch) {
      const int64_t from = c == 1 ? 0 : ch;
      for (int64_t p = 0; p < plane; ++p) dst[ch * plane + p] = decoded[i][p * c + from];
    }
    std::vector<uint8_t>().swap(decoded[i]);
  }
  return set;
}

}  // namespace onestep::diffusion
