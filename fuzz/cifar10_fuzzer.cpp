// One CIFAR-10 binary batch. The loader insists on 10000 records per file; here the record count
// follows the input's size (rounded up, so partial records reach the size check), which lets
// small inputs reach the record parsing.

#include "fuzz_targets.h"
#include "onestep/diffusion/datasets.h"

namespace onestep::fuzz {

void cifar10(const uint8_t* data, size_t size) {
  constexpr size_t kRecordBytes = 3073;
  const auto records =
      static_cast<int64_t>(std::max<size_t>(1, (size + kRecordBytes - 1) / kRecordBytes));
  const diffusion::ImageSet set =
      diffusion::parse_cifar10_batch(std::vector<uint8_t>(data, data + size), "fuzz.bin", records);
  (void)touch(set.pixels.data(), set.pixels.size());
}

}  // namespace onestep::fuzz
