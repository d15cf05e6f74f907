#pragma once
// safetensors checkpoints (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON
//   {"__metadata__": {str: str}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}}
// then the data buffer (offsets relative to its start). Every read is validated in full, so a
// damaged or hostile file gives an onestep::Error naming the file, never a crash.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep::nn {

// How f32 tensors are stored in a saved file. f64 and i64 tensors are always stored as they are.
enum class StorageDType {
  native,  // F32 (lossless)
  bf16,    // BF16, round to nearest even; loads back as f32
  f16,     // F16, round to nearest even (overflow gives inf); loads back as f32
};

// Whether a saved file carries onestep's content checksum: a CRC-32 of the metadata, and tensor
// by tensor in name order of each name, dtype, shape and data, stored in the metadata as
// "onestep.crc32" (docs/FORMATS.md). It depends on the content, not the layout. Readers verify
// it when present (any flipped bit is then an error) and drop it from the metadata they return.
// Off by default, so that files match the reference writer byte for byte.
enum class SafetensorsChecksum { none, crc32 };

struct SafetensorsContent {
  // CPU tensors in the order of their data offsets in the file. F32/F64/I64 load as f32/f64/i64;
  // BF16 and F16 load as f32.
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" object, if any
  std::string source_name;                      // the file the content came from, for errors

  bool contains(const std::string& name) const;
  // The tensor called `name`; throws onestep::Error naming the key and the file when missing.
  const Tensor& at(const std::string& name) const;
};

// Parses a whole safetensors file held in memory. `source_name` (usually the path) appears in
// every error message. Total allocation is bounded by a small multiple of `size`.
SafetensorsContent parse_safetensors(const uint8_t* data, size_t size,
                                     const std::string& source_name);

SafetensorsContent load_safetensors(const std::string& path);

// Saves `tensors` (any device, any strides) in the given order, atomically (see atomic_file.h).
// Names must be unique, non-empty and not "__metadata__".
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      StorageDType float_storage = StorageDType::native,
                      SafetensorsChecksum checksum = SafetensorsChecksum::none);

}  // namespace onestep::nn
