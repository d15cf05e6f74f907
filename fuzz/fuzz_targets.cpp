// The table of fuzz targets and the helpers they share.

#include "fuzz_targets.h"

#include <algorithm>
#include <cstring>

#include "onestep/engine/error.h"

namespace onestep::fuzz {

const std::vector<NamedTarget>& all_targets() {
  static const std::vector<NamedTarget> targets = {
      {"safetensors", safetensors}, {"checkpoint", checkpoint}, {"fashion_mnist", fashion_mnist},
      {"cifar10", cifar10},         {"png_folder", png_folder}, {"npy", npy},
      {"config_json", config_json},
  };
  return targets;
}

void run_one(Target target, const uint8_t* data, size_t size) {
  try {
    target(data, size);
  } catch (const Error&) {
    // Refused with a message: what damaged input should get.
  }
}

std::vector<std::vector<uint8_t>> split_files(const uint8_t* data, size_t size) {
  std::vector<std::vector<uint8_t>> files;
  const auto* sep = reinterpret_cast<const uint8_t*>(kFileSeparator);
  const size_t sep_size = std::strlen(kFileSeparator);
  const uint8_t* begin = data;
  const uint8_t* end = data + size;
  while (true) {
    const uint8_t* at = std::search(begin, end, sep, sep + sep_size);
    files.emplace_back(begin, at);
    if (at == end) break;
    begin = at + sep_size;
  }
  return files;
}

uint64_t touch(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

}  // namespace onestep::fuzz
