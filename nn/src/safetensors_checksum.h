#pragma once
// The optional content checksum of onestep's safetensors files (internal to onestep::nn).
//
// A CRC-32 over everything a reader returns: the metadata (but the checksums themselves), then
// tensor by tensor in the order of their names, each one's name, dtype, shape and bytes. It sits
// in the metadata under kChecksumKey as 8 hex digits, so other readers see an ordinary string
// entry, and it turns a flipped bit anywhere that matters (weights included, which no structural
// check can see) into a clear error. It depends on the content alone, not on the file's layout:
// a file that another writer saved again with the same tensors and metadata (the reference
// safetensors library orders tensors its own way) still verifies. The value is
// "name-order:" and 8 hex digits.
//
// Files written before this hold 8 hex digits alone: a CRC-32 with the tensors in data order,
// entries first, then the whole data buffer. Readers still verify those.

#include <cstdint>
#include <map>
#include <string>

#include "onestep/engine/shape.h"

namespace onestep::nn::detail {

inline constexpr const char* kChecksumKey = "onestep.crc32";
inline constexpr const char* kNameOrderPrefix = "name-order:";

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
