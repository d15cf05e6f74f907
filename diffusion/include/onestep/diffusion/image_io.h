#pragma once
// Image output (PNG files, sample grids, 2-D scatter plots) and PNG input, via libpng's
// simplified API. Every file is written atomically (onestep::nn::write_file_atomically).

#include <cstdint>
#include <string>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

// images: f32 or f64 [N, C, H, W] in [-1, 1], on any device -> uint8 [N, H, W, C] with
// round((x + 1) * 127.5) clamped to [0, 255] (NaN -> 0).
std::vector<uint8_t> to_uint8_nhwc(const Tensor& images);

// pixels: uint8 [height, width, channels], channels 1 (gray), 3 (RGB) or 4 (RGBA).
// The PNG file's bytes; `name` names the image in errors.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t height, int64_t width,
                                int64_t channels, const std::string& name);
void write_png(const std::string& path, const uint8_t* pixels, int64_t height, int64_t width,
               int64_t channels);

// images: [N, C, H, W] in [-1, 1] with C = 1 or 3, tiled row by row into `columns` columns
// (0: ceil(sqrt(N))), with `padding` pixels of `pad_value` around and between the tiles.
void write_image_grid(const std::string& path, const Tensor& images, int64_t columns = 0,
                      int64_t padding = 2, uint8_t pad_value = 255);

// A size x size RGB scatter plot of points [N, 2] (x right, y up) over [-extent, extent]^2:
// white background, thin grey axes through 0, `reference` [M, 2] (may be undefined) drawn first
// in light grey, then `points` as small dark dots. Points outside the square or not finite are
// left out.
void write_scatter_png(const std::string& path, const Tensor& points, const Tensor& reference,
                       double extent = 3.0, int64_t size = 512);

// Decodes a PNG held in memory to uint8 [h, w, c]: c = 1 for gray inputs, 3 for colour ones
// (palette and 16-bit inputs are converted; alpha is composited onto black). `source_name`
// names the file in errors. Throws onestep::Error on truncated or corrupt data, never crashes.
std::vector<uint8_t> decode_png(const uint8_t* data, size_t size, const std::string& source_name,
                                int64_t* height, int64_t* width, int64_t* channels);
std::vector<uint8_t> read_png_file(const std::string& path, int64_t* height, int64_t* width,
                                   int64_t* channels);

}  // namespace onestep::diffusion
