#pragma once
// Samples as one PNG per image, named as EDM's generate.py names them (000000.png, 000001.png,
// ...; gray for one channel, RGB for three), in a folder or a zip archive, so that EDM's
// `fid.py calc --images=DIR|ZIP`, its ImageFolderDataset and other FID tools read onestep's
// samples directly. With class labels, a dataset.json beside them in the format of EDM's
// dataset_tool.py ({"labels": [["000000.png", 3], ...]}), which ImageFolderDataset reads.

#include <string>

#include "onestep/engine/tensor.h"

namespace onestep::diffusion {

// "000042.png": the name of image `index`.
std::string sample_png_name(int64_t index);

// images: [N, C, H, W] in [-1, 1] with C = 1 or 3, on any device; classes: i64 [N] or undefined.
// The folder is created if needed; every file is written atomically.
void write_png_folder(const std::string& dir, const Tensor& images, const Tensor& classes);
// The same files in a zip archive (stored, uncompressed: PNG data is compressed already), written
// atomically. Refused above 65,535 files (the images and dataset.json) or 4 GiB: the limits of a
// zip without zip64.
void write_png_zip(const std::string& path, const Tensor& images, const Tensor& classes);

}  // namespace onestep::diffusion
