// PNG output (files, grids, scatter plots) and PNG decoding through libpng's simplified API,
// which reports errors in png_image::message instead of longjmp'ing through our frames.

#include "onestep/diffusion/image_io.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "onestep/engine/device.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {

namespace {

// Larger decoded images are damaged or hostile files, not training data.
constexpr uint64_t kMaxDecodedBytes = uint64_t{1} << 30;

// The most decoded 8-bit gray/RGB bytes a PNG of `file_bytes` bytes can honestly hold: deflate
// expands at most 1032:1, and a 1-bit palette image becomes 24 output bits per stored bit. A
// header that claims more is lying; refusing it before allocating keeps a 60-byte file from
// asking for a gigabyte.
uint64_t max_honest_decoded_bytes(size_t file_bytes) {
  return (uint64_t{file_bytes} + 64) * 1032 * 24;
}

template <class T>
void convert_nhwc(const T* src, uint8_t* dst, int64_t n, int64_t c, int64_t hw) {
  // src: [N, C, H*W] -> dst: [N, H*W, C]
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const T* plane = src + (i * c + ch) * hw;
      uint8_t* out = dst + i * hw * c + ch;
      for (int64_t p = 0; p < hw; ++p) {
        const double v = (static_cast<double>(plane[p]) + 1.0) * 127.5;
        // !(v > 0) also catches NaN.
        out[p * c] = !(v > 0.0) ? 0 : v >= 255.0 ? 255 : static_cast<uint8_t>(v + 0.5);
      }
    }
  }
}

Tensor to_host_contiguous(const Tensor& t) {
  return t.device().is_cpu() ? t.contiguous() : t.to(Device::cpu()).contiguous();
}

// Coordinates of a [N, 2] tensor as doubles, x0 y0 x1 y1 ...
std::vector<double> points_xy(const Tensor& points, const char* what, const std::string& path) {
  ONESTEP_CHECK(points.dim() == 2 && points.size(1) == 2,
                "write_scatter_png '{}': {} must be [N, 2], got {}", path, what,
                shape_str(points.shape()));
  ONESTEP_CHECK(is_floating(points.dtype()),
                "write_scatter_png '{}': {} must be f32 or f64, got {}", path, what,
                dtype_name(points.dtype()));
  return to_host_contiguous(points).to_vector<double>();
}

}  // namespace

std::vector<uint8_t> to_uint8_nhwc(const Tensor& images) {
  ONESTEP_CHECK(images.defined(), "to_uint8_nhwc: undefined tensor");
  ONESTEP_CHECK(images.dim() == 4, "to_uint8_nhwc: expected images [N, C, H, W], got {}",
                shape_str(images.shape()));
  ONESTEP_CHECK(is_floating(images.dtype()), "to_uint8_nhwc: expected f32 or f64 images, got {}",
                dtype_name(images.dtype()));
  const Tensor host = to_host_contiguous(images);
  const int64_t n = host.size(0), c = host.size(1), hw = host.size(2) * host.size(3);
  std::vector<uint8_t> out(static_cast<size_t>(host.numel()));
  if (host.dtype() == DType::f32) {
    convert_nhwc(host.data<float>(), out.data(), n, c, hw);
  } else {
    convert_nhwc(host.data<double>(), out.data(), n, c, hw);
  }
  return out;
}

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t height, int64_t width,
                                int64_t channels, const std::string& name) {
  ONESTEP_CHECK(channels == 1 || channels == 3 || channels == 4,
                "write_png '{}': channels must be 1, 3 or 4, got {}", name, channels);
  ONESTEP_CHECK(height > 0 && width > 0 && height <= (1 << 24) && width <= (1 << 24) &&
                    width * channels <= std::numeric_limits<int32_t>::max(),
                "write_png '{}': bad size {}x{}", name, height, width);
  ONESTEP_CHECK(pixels != nullptr, "write_png '{}': null pixels", name);
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  const auto stride = static_cast<png_int_32>(width * channels);
  png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(image);
  std::vector<uint8_t> encoded(size);
  const int ok = png_image_write_to_memory(&image, encoded.data(), &size, /*convert_to_8_bit=*/0,
                                           pixels, stride, nullptr);
  const std::string message = image.message;
  png_image_free(&image);
  ONESTEP_CHECK(ok, "write_png '{}': libpng failed: {}", name, message);
  encoded.resize(size);
  return encoded;
}

void write_png(const std::string& path, const uint8_t* pixels, int64_t height, int64_t width,
               int64_t channels) {
  const std::vector<uint8_t> encoded = encode_png(pixels, height, width, channels, path);
  nn::write_file_atomically(path, encoded.data(), encoded.size());
}

void write_image_grid(const std::string& path, const Tensor& images, int64_t columns,
                      int64_t padding, uint8_t pad_value) {
  ONESTEP_CHECK(images.defined() && images.dim() == 4,
                "write_image_grid '{}': expected images [N, C, H, W], got {}", path,
                images.defined() ? shape_str(images.shape()) : "undefined");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  ONESTEP_CHECK(n > 0 && h > 0 && w > 0, "write_image_grid '{}': no pixels in {}", path,
                shape_str(images.shape()));
  ONESTEP_CHECK(c == 1 || c == 3, "write_image_grid '{}': need 1 or 3 channels, got {}", path, c);
  ONESTEP_CHECK(columns >= 0 && padding >= 0, "write_image_grid '{}': columns {} padding {}", path,
                columns, padding);
  if (columns == 0) columns = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  columns = std::min(columns, n);
  const int64_t rows = (n + columns - 1) / columns;
  const int64_t grid_h = rows * h + (rows + 1) * padding;
  const int64_t grid_w = columns * w + (columns + 1) * padding;
  const std::vector<uint8_t> tiles = to_uint8_nhwc(images);  // [N, H, W, C]
  std::vector<uint8_t> grid(static_cast<size_t>(grid_h * grid_w * c), pad_value);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t top = padding + (i / columns) * (h + padding);
    const int64_t left = padding + (i % columns) * (w + padding);
    for (int64_t y = 0; y < h; ++y) {
      const uint8_t* src = tiles.data() + ((i * h + y) * w) * c;
      std::copy(src, src + w * c, grid.data() + ((top + y) * grid_w + left) * c);
    }
  }
  write_png(path, grid.data(), grid_h, grid_w, c);
}

void write_scatter_png(const std::string& path, const Tensor& points, const Tensor& reference,
                       double extent, int64_t size) {
  ONESTEP_CHECK(std::isfinite(extent) && extent > 0,
                "write_scatter_png '{}': extent must be positive, got {}", path, extent);
  ONESTEP_CHECK(size >= 16 && size <= 16384, "write_scatter_png '{}': size {} not in [16, 16384]",
                path, size);
  ONESTEP_CHECK(points.defined(), "write_scatter_png '{}': undefined points", path);
  const std::vector<double> xy = points_xy(points, "points", path);
  const std::vector<double> ref =
      reference.defined() ? points_xy(reference, "reference", path) : std::vector<double>{};

  std::vector<uint8_t> rgb(static_cast<size_t>(size * size * 3), 255);
  auto put = [&](int64_t px, int64_t py, uint8_t r, uint8_t g, uint8_t b) {
    if (px < 0 || py < 0 || px >= size || py >= size) return;
    uint8_t* p = rgb.data() + (py * size + px) * 3;
    p[0] = r, p[1] = g, p[2] = b;
  };
  // x in [-extent, extent] -> column 0..size-1; y up -> row size-1..0.
  const double scale = (size - 1) / (2.0 * extent);
  auto to_pixel = [&](double v) {
    return static_cast<int64_t>(std::floor((v + extent) * scale + 0.5));
  };
  const int64_t origin = to_pixel(0.0);
  for (int64_t i = 0; i < size; ++i) {
    put(i, size - 1 - origin, 190, 190, 190);  // x axis
    put(origin, i, 190, 190, 190);             // y axis
  }
  // A dot is a plus of 5 pixels: visible at 512 px without merging clusters of 0.05 std.
  auto draw = [&](const std::vector<double>& v, uint8_t r, uint8_t g, uint8_t b) {
    for (size_t i = 0; i + 1 < v.size(); i += 2) {
      const double x = v[i], y = v[i + 1];
      if (!std::isfinite(x) || !std::isfinite(y) || std::abs(x) > extent || std::abs(y) > extent) {
        continue;
      }
      const int64_t px = to_pixel(x), py = size - 1 - to_pixel(y);
      put(px, py, r, g, b);
      put(px - 1, py, r, g, b);
      put(px + 1, py, r, g, b);
      put(px, py - 1, r, g, b);
      put(px, py + 1, r, g, b);
    }
  };
  draw(ref, 200, 200, 200);
  draw(xy, 20, 40, 120);
  write_png(path, rgb.data(), size, size, 3);
}

std::vector<uint8_t> decode_png(const uint8_t* data, size_t size, const std::string& source_name,
                                int64_t* height, int64_t* width, int64_t* channels) {
  // libpng would say "read beyond end of data" for a short text file; say what it is.
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    ONESTEP_FAIL("PNG file '{}': not a PNG file (no PNG signature; {} bytes)", source_name, size);
  }
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, data, size)) {
    const std::string message = image.message;
    png_image_free(&image);
    ONESTEP_FAIL("PNG file '{}': cannot read ({})", source_name, message);
  }
  const int64_t c = (image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  const uint64_t bytes = uint64_t{image.width} * image.height * c;
  if (bytes > kMaxDecodedBytes) {
    png_image_free(&image);
    ONESTEP_FAIL("PNG file '{}': {}x{} is too large", source_name, image.height, image.width);
  }
  if (bytes > max_honest_decoded_bytes(size)) {
    png_image_free(&image);
    ONESTEP_FAIL("PNG file '{}': its header claims {}x{} pixels, more than {} bytes can hold",
                 source_name, image.height, image.width, size);
  }
  image.format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  std::vector<uint8_t> pixels(static_cast<size_t>(bytes));
  const png_color black = {0, 0, 0};
  if (!png_image_finish_read(&image, &black, pixels.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    ONESTEP_FAIL("PNG file '{}': corrupt or truncated ({})", source_name, message);
  }
  png_image_free(&image);  // finish_read frees already; harmless twice
  *height = image.height;
  *width = image.width;
  *channels = c;
  return pixels;
}

std::vector<uint8_t> read_png_file(const std::string& path, int64_t* height, int64_t* width,
                                   int64_t* channels) {
  const std::vector<uint8_t> bytes = nn::read_file(path);
  return decode_png(bytes.data(), bytes.size(), path, height, width, channels);
}

}  // namespace onestep::diffusion
