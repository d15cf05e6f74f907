// Fashion-MNIST's IDX pair: images file, separator, labels file; each is gzip'ed when it starts
// with the gzip magic (named *.gz), plain otherwise, as the loader decides by file name.

#include "fuzz_targets.h"
#include "onestep/diffusion/datasets.h"

namespace onestep::fuzz {

namespace {

std::string idx_name(const std::vector<uint8_t>& file, const char* stem) {
  const bool gz = file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b;
  return std::string(stem) + (gz ? ".gz" : "");
}

}  // namespace

void fashion_mnist(const uint8_t* data, size_t size) {
  std::vector<std::vector<uint8_t>> files = split_files(data, size);
  files.resize(2);  // a missing labels file reads as empty
  const diffusion::ImageSet set =
      diffusion::parse_fashion_mnist(files[0], idx_name(files[0], "train-images-idx3-ubyte"),
                                     files[1], idx_name(files[1], "train-labels-idx1-ubyte"));
  (void)touch(set.pixels.data(), set.pixels.size());
  (void)touch(set.labels.data(), set.labels.size() * sizeof(int64_t));
}

}  // namespace onestep::fuzz
