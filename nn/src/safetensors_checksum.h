#pragma once
// The optional content checksum of onestep's safetensors files (internal to onestep::nn).
//
// A CRC-32 over everything a reader returns: the metadata (but the checksum itself), each
// tensor's name, dtype and shape in data order, and the data buffer. It sits in the metadata
// under kChecksumKey as 8 hex digits, so other readers see an ordinary string entry, and it
// turns a flipped bit anywhere that matters (weights included, which no structural check can
// see) into a clear error.

#include <cstdint>
#include <map>
#include <string>

#include "onestep/engine/shape.h"

namespace onestep::nn::detail {

inline constexpr const char* kChecksumKey = "onestep.crc32";

class ContentChecksum {
 public:
  void add_metadata(const std::map<std::string, std::string>& metadata);
  void add_entry(const std::string& name, const char* dtype, const Shape& shape);
  void add_data(const void* data, size_t size);
  std::string hex() const;

 private:
  void add_string(const std::string& text);  // with a terminating NUL, so fields cannot merge
  uint32_t crc_ = 0;
};

}  // namespace onestep::nn::detail
