// nn::parse_safetensors on arbitrary bytes: every tensor and metadata entry it returns must be
// readable in full.

#include "fuzz_targets.h"
#include "onestep/engine/dtype.h"
#include "onestep/nn/safetensors.h"

namespace onestep::fuzz {

void safetensors(const uint8_t* data, size_t size) {
  const nn::SafetensorsContent content = nn::parse_safetensors(data, size, "fuzz.safetensors");
  uint64_t sum = 0;
  for (const auto& [name, tensor] : content.tensors) {
    sum += touch(name.data(), name.size());
    if (tensor.numel() > 0)
      sum += touch(tensor.raw_data(),
                   static_cast<size_t>(tensor.numel()) * dtype_size(tensor.dtype()));
  }
  for (const auto& [key, value] : content.metadata) sum += touch(value.data(), value.size());
  if (!content.tensors.empty()) content.at(content.tensors.front().first);
  (void)sum;
}

}  // namespace onestep::fuzz
