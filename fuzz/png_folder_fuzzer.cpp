// A PNG folder: each file decoded, checked against the first one's size and assembled, then a
// training stream drawn from the set as `onestep teacher --data png:DIR` would.

#include "fuzz_targets.h"
#include "onestep/diffusion/datasets.h"
#include "onestep/engine/random.h"

namespace onestep::fuzz {

void png_folder(const uint8_t* data, size_t size) {
  diffusion::PngSetBuilder builder("fuzz");
  const std::vector<std::vector<uint8_t>> files = split_files(data, size);
  for (size_t i = 0; i < files.size(); ++i)
    builder.add("fuzz/" + std::to_string(i) + ".png", files[i].data(), files[i].size());
  diffusion::ImageSet set = builder.finish();
  (void)touch(set.pixels.data(), set.pixels.size());
  auto source = diffusion::make_image_source(std::move(set), diffusion::DataOptions{1, true});
  source->next_batch(3);
  Rng gen(2);
  source->reference_sample(2, gen);
}

}  // namespace onestep::fuzz
