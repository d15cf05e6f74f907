// CRC-32 (zlib's) of a safetensors file's content; see safetensors_checksum.h.

#include "safetensors_checksum.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "onestep/engine/error.h"

namespace onestep::nn::detail {

void ContentChecksum::add_data(const void* data, size_t size) {
  const auto* p = static_cast<const Bytef*>(data);
  while (size > 0) {  // zlib takes at most uInt bytes per call
    const size_t n = std::min<size_t>(size, std::numeric_limits<uInt>::max());
    crc_ = static_cast<uint32_t>(::crc32(crc_, p, static_cast<uInt>(n)));
    p += n;
    size -= n;
  }
}

void ContentChecksum::add_string(const std::string& text) {
  add_data(text.c_str(), text.size() + 1);
}

void ContentChecksum::add_metadata(const std::map<std::string, std::string>& metadata) {
  for (const auto& [key, value] : metadata) {
    if (key == kChecksumKey) continue;
    add_string(key);
    add_string(value);
  }
}

void ContentChecksum::add_entry(const std::string& name, const char* dtype, const Shape& shape) {
  add_string(name);
  add_string(dtype);
  add_string(fmt::format("{}", fmt::join(shape, ",")));
}

std::string ContentChecksum::hex() const {
  return fmt::format("{:08x}", crc_);
}

}  // namespace onestep::nn::detail
