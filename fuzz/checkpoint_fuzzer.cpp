// A model checkpoint as `onestep sample` and `onestep distill` read it: safetensors, then the
// model config in its metadata, then the network built from that config and loaded with the
// weights. A config that lies about the network's size must be refused before allocating.

#include "fuzz_targets.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/nn/safetensors.h"

namespace onestep::fuzz {

void checkpoint(const uint8_t* data, size_t size) {
  const nn::SafetensorsContent content = nn::parse_safetensors(data, size, "fuzz.safetensors");
  const diffusion::LoadedDenoiser loaded =
      diffusion::denoiser_from_safetensors(content, "fuzz.safetensors");
  (void)loaded.config.to_json();
}

}  // namespace onestep::fuzz
