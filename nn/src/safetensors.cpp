// safetensors reading (validated in full, for untrusted input) and atomic writing.

#include "onestep/nn/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"
#include "onestep/nn/atomic_file.h"
#include "safetensors_checksum.h"

// The format is little-endian and tensor bytes are copied as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes little-endian");

namespace onestep::nn {

namespace {

using Json = nlohmann::json;

// The reference implementation's limit; anything larger is a damaged or hostile file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Valid headers nest three deep ({name: {shape: [..]}}), plus whatever ignored extra fields
// hold; the cap stops garbage such as "[[[[..." from growing the parser's stack and DOM.
constexpr int kMaxJsonDepth = 64;
constexpr const char* kMetadataKey = "__metadata__";

template <class... Args>
[[noreturn]] void fail(const std::string& source, fmt::format_string<Args...> format,
                       Args&&... args) {
  ONESTEP_FAIL("safetensors file '{}': {}", source,
               fmt::format(format, std::forward<Args>(args)...));
}

// How tensor elements are stored in a file.
enum class FileDType { f32, f64, i64, bf16, f16 };

struct FileDTypeInfo {
  FileDType dtype;
  const char* name;
  uint64_t size;
};

constexpr FileDTypeInfo kFileDTypes[] = {
    {FileDType::f32, "F32", 4},   {FileDType::f64, "F64", 8}, {FileDType::i64, "I64", 8},
    {FileDType::bf16, "BF16", 2}, {FileDType::f16, "F16", 2},
};

// Valid safetensors dtypes that the engine has no type for; named apart from typos.
constexpr const char* kUnsupportedDTypes[] = {
    "BOOL",    "U8",      "I8",      "I16", "U16",     "I32",     "U32", "U64",
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "C64",
};

const FileDTypeInfo& file_dtype_info(FileDType dtype) {
  for (const auto& info : kFileDTypes)
    if (info.dtype == dtype) return info;
  ONESTEP_FAIL("safetensors: unknown file dtype {}", static_cast<int>(dtype));
}

FileDType parse_dtype(const std::string& source, const std::string& name, const Json& value) {
  if (!value.is_string()) {
    fail(source, "tensor '{}': \"dtype\" must be a string, got {}", name, value.type_name());
  }
  const auto& text = value.get_ref<const std::string&>();
  for (const auto& info : kFileDTypes)
    if (text == info.name) return info.dtype;
  for (const char* unsupported : kUnsupportedDTypes) {
    if (text == unsupported) {
      fail(source, "tensor '{}' has unsupported dtype {} (supported: F32, F64, I64, BF16, F16)",
           name, text);
    }
  }
  fail(source, "tensor '{}' has unknown dtype \"{}\"", name, text);
}

// Parses the header JSON, rejecting what nlohmann accepts silently: duplicate keys (it keeps the
// last) and absurd nesting.
Json parse_header_json(const char* begin, const char* end, const std::string& source) {
  std::vector<std::set<std::string>> keys_per_object;  // one set per open object
  int depth = 0;
  auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (++depth > kMaxJsonDepth) {
          fail(source, "header JSON is nested more than {} levels deep", kMaxJsonDepth);
        }
        if (event == Json::parse_event_t::object_start) keys_per_object.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        keys_per_object.pop_back();
        --depth;
        break;
      case Json::parse_event_t::array_end:
        --depth;
        break;
      case Json::parse_event_t::key:
        if (!keys_per_object.back().insert(parsed.get<std::string>()).second) {
          fail(source, "header JSON has duplicate key \"{}\"", parsed.get<std::string>());
        }
        break;
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  // nlohmann's lexer takes a NUL byte for the end of input and ignores whatever follows it;
  // JSON never contains a raw NUL, so reject it up front.
  if (const void* nul = std::memchr(begin, '\0', static_cast<size_t>(end - begin))) {
    fail(source, "header is not valid JSON: NUL byte at header offset {}",
         static_cast<const char*>(nul) - begin);
  }
  try {
    return Json::parse(begin, end, callback);
  } catch (const Json::exception& e) {
    fail(source, "header is not valid JSON: {}", e.what());
  }
}

std::map<std::string, std::string> parse_metadata(const std::string& source, const Json& value) {
  if (!value.is_object()) {
    fail(source, "\"{}\" must be an object of strings, got {}", kMetadataKey, value.type_name());
  }
  std::map<std::string, std::string> metadata;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string()) {
      fail(source, "\"{}\" value for key \"{}\" must be a string, got {}", kMetadataKey, it.key(),
           it.value().type_name());
    }
    metadata.emplace(it.key(), it.value().get<std::string>());
  }
  return metadata;
}

// One tensor's header entry, checked for internal consistency (not yet against the buffer).
struct Entry {
  std::string name;
  FileDType dtype;
  Shape shape;
  uint64_t begin;
  uint64_t end;
};

const Json& require_field(const std::string& source, const std::string& name, const Json& entry,
                          const char* field) {
  const auto it = entry.find(field);
  if (it == entry.end()) fail(source, "tensor '{}' has no \"{}\"", name, field);
  return *it;
}

Shape parse_shape(const std::string& source, const std::string& name, const Json& value) {
  if (!value.is_array()) {
    fail(source, "tensor '{}': \"shape\" must be an array of non-negative integers, got {}", name,
         value.type_name());
  }
  Shape shape;
  shape.reserve(value.size());
  // The engine computes strides as the product of max(dim, 1), so that product must fit in
  // int64 even when a zero dim makes the element count 0.
  uint64_t product = 1;
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  for (const Json& dim : value) {
    if (dim.is_number_integer() && !dim.is_number_unsigned()) {
      fail(source, "tensor '{}': \"shape\" has a negative dimension {}", name, dim.dump());
    }
    if (!dim.is_number_unsigned()) {
      fail(source, "tensor '{}': \"shape\" entries must be non-negative integers, got {}", name,
           dim.dump());
    }
    const uint64_t d = dim.get<uint64_t>();
    const uint64_t factor = std::max<uint64_t>(d, 1);
    if (factor > kMax / product) {
      fail(source, "tensor '{}': shape {} has too many elements (overflows 64 bits)", name,
           value.dump());
    }
    product *= factor;
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

// Fields other than dtype, shape and data_offsets are ignored, as the reference reader does, so
// files from a newer writer still load.
Entry parse_entry(const std::string& source, const std::string& name, const Json& value) {
  if (!value.is_object()) {
    fail(source, "entry '{}' must be an object with dtype, shape and data_offsets, got {}", name,
         value.type_name());
  }
  Entry entry;
  entry.name = name;
  entry.dtype = parse_dtype(source, name, require_field(source, name, value, "dtype"));
  entry.shape = parse_shape(source, name, require_field(source, name, value, "shape"));

  const Json& offsets = require_field(source, name, value, "data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail(source, "tensor '{}': \"data_offsets\" must be two non-negative integers, got {}", name,
         offsets.dump());
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end) {
    fail(source, "tensor '{}': data_offsets [{}, {}] end before they begin", name, entry.begin,
         entry.end);
  }

  // parse_shape bounded the product by int64 max; the byte count may still overflow.
  const uint64_t numel = static_cast<uint64_t>(shape_numel(entry.shape));
  const FileDTypeInfo& info = file_dtype_info(entry.dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / info.size) {
    fail(source, "tensor '{}': shape {} of {} overflows 64 bits in bytes", name,
         shape_str(entry.shape), info.name);
  }
  const uint64_t nbytes = numel * info.size;
  if (entry.end - entry.begin != nbytes) {
    fail(source,
         "tensor '{}': data_offsets [{}, {}] span {} bytes but dtype {} and shape {} need {} "
         "bytes",
         name, entry.begin, entry.end, entry.end - entry.begin, info.name, shape_str(entry.shape),
         nbytes);
  }
  return entry;
}

// Tensors must tile the data buffer exactly: sorted by offset, each starts where the previous
// one ended, the first at 0 and the last at the buffer's end.
void check_layout(const std::string& source, std::vector<Entry>& entries, uint64_t data_size) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin == expected) {
      expected = e.end;
      continue;
    }
    if (i == 0) {
      fail(source, "tensor data must start at offset 0, but the first tensor '{}' starts at {}",
           e.name, e.begin);
    }
    if (e.begin < expected) {
      fail(source, "tensor '{}' (data_offsets [{}, {}]) overlaps tensor '{}' which ends at {}",
           e.name, e.begin, e.end, entries[i - 1].name, expected);
    }
    fail(source,
         "{}-byte gap in the data buffer between tensor '{}' (ends at {}) and '{}' "
         "(starts at {})",
         e.begin - expected, entries[i - 1].name, expected, e.name, e.begin);
  }
  if (data_size > expected) {
    fail(source, "data buffer has {} bytes but the tensors cover {} ({} trailing bytes)", data_size,
         expected, data_size - expected);
  }
  if (data_size < expected) {
    fail(source, "data buffer has {} bytes but the tensors need {} (file truncated?)", data_size,
         expected);
  }
}

template <class Half>
Tensor widen_to_f32(const uint8_t* bytes, const Shape& shape) {
  Tensor t = empty(shape, DType::f32);
  float* out = t.data<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    uint16_t bits;
    std::memcpy(&bits, bytes + 2 * i, 2);
    out[i] = static_cast<float>(Eigen::numext::bit_cast<Half>(bits));
  }
  return t;
}

Tensor make_tensor(const Entry& entry, const uint8_t* bytes) {
  switch (entry.dtype) {
    case FileDType::bf16:
      return widen_to_f32<Eigen::bfloat16>(bytes, entry.shape);
    case FileDType::f16:
      return widen_to_f32<Eigen::half>(bytes, entry.shape);
    case FileDType::f32:
      return from_host(bytes, DType::f32, entry.shape);
    case FileDType::f64:
      return from_host(bytes, DType::f64, entry.shape);
    case FileDType::i64:
      return from_host(bytes, DType::i64, entry.shape);
  }
  ONESTEP_FAIL("safetensors: unknown file dtype {}", static_cast<int>(entry.dtype));
}

// Checks the content checksum when the file has one (onestep's checkpoints do; files from
// other writers do not) and removes it from the metadata, so that metadata copied into a new file
// never carries a stale one.
void verify_checksum(const std::string& source, std::map<std::string, std::string>& metadata,
                     const std::vector<Entry>& entries, const uint8_t* buffer, uint64_t data_size) {
  const auto found = metadata.find(detail::kChecksumKey);
  if (found == metadata.end()) return;
  const std::string expected = found->second;
  const std::string prefix = detail::kNameOrderPrefix;
  const bool name_order = expected.rfind(prefix, 0) == 0;
  const bool legacy =
      expected.size() == 8 && expected.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!name_order && !legacy)
    fail(source, "content checksum '{}' is in no format onestep wrote: the file is corrupt",
         expected);
  detail::ContentChecksum checksum;
  checksum.add_metadata(metadata);
  if (name_order) {
    // Tensor by tensor in name order: the content, whatever the layout.
    std::vector<const Entry*> by_name;
    for (const Entry& e : entries) by_name.push_back(&e);
    std::sort(by_name.begin(), by_name.end(),
              [](const Entry* a, const Entry* b) { return a->name < b->name; });
    for (const Entry* e : by_name) {
      checksum.add_entry(e->name, file_dtype_info(e->dtype).name, e->shape);
      checksum.add_data(buffer + e->begin, static_cast<size_t>(e->end - e->begin));
    }
  } else {
    for (const Entry& e : entries)
      checksum.add_entry(e.name, file_dtype_info(e.dtype).name, e.shape);
    checksum.add_data(buffer, static_cast<size_t>(data_size));
  }
  const std::string computed = (name_order ? prefix : std::string()) + checksum.hex();
  if (computed != expected) {
    fail(source,
         "content checksum mismatch (CRC-32 {}, the header says '{}'): the file is corrupt; "
         "use an earlier copy",
         computed, expected);
  }
  metadata.erase(detail::kChecksumKey);
}

}  // namespace

bool SafetensorsContent::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const auto& p) { return p.first == name; });
}

const Tensor& SafetensorsContent::at(const std::string& name) const {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return tensor;
  std::string names;
  for (size_t i = 0; i < tensors.size() && i < 8; ++i)
    names += (i ? ", " : "") + ("'" + tensors[i].first + "'");
  if (tensors.size() > 8) names += fmt::format(", ... ({} in all)", tensors.size());
  fail(source_name, "no tensor named '{}' (it holds {})", name,
       tensors.empty() ? std::string("no tensors") : names);
}

SafetensorsContent parse_safetensors(const uint8_t* data, size_t size,
                                     const std::string& source_name) {
  const std::string& source = source_name;
  if (size < 8) {
    fail(source,
         "file is {} bytes, shorter than the 8-byte header length (truncated or not a "
         "safetensors file)",
         size);
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | data[i];
  if (header_size > kMaxHeaderBytes) {
    fail(source, "header length {} exceeds the {}-byte limit (corrupt or not a safetensors file)",
         header_size, kMaxHeaderBytes);
  }
  if (header_size > size - 8) {
    fail(source, "header length {} is larger than the {} bytes that follow it (file truncated?)",
         header_size, size - 8);
  }
  const char* header = reinterpret_cast<const char*>(data + 8);
  const Json root = parse_header_json(header, header + header_size, source);
  if (!root.is_object()) fail(source, "header must be a JSON object, got {}", root.type_name());

  SafetensorsContent content;
  content.source_name = source_name;
  std::vector<Entry> entries;
  entries.reserve(root.size());
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == kMetadataKey) {
      content.metadata = parse_metadata(source, it.value());
    } else {
      entries.push_back(parse_entry(source, it.key(), it.value()));
    }
  }

  const uint8_t* buffer = data + 8 + header_size;
  const uint64_t data_size = size - 8 - header_size;
  check_layout(source, entries, data_size);
  verify_checksum(source, content.metadata, entries, buffer, data_size);

  // Everything is checked, so every allocation below is bounded by the file size.
  content.tensors.reserve(entries.size());
  for (const Entry& entry : entries) {
    content.tensors.emplace_back(entry.name, make_tensor(entry, buffer + entry.begin));
  }
  return content;
}

SafetensorsContent load_safetensors(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

// --- writing

namespace {

// f32 stored as a 16-bit type, in chunks so that no full-size copy is needed.
template <class Half>
void write_narrowed(const WriteChunk& write, const float* values, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;
  std::vector<uint16_t> bits(static_cast<size_t>(std::min(n, kChunk)));
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t count = std::min(kChunk, n - start);
    for (int64_t i = 0; i < count; ++i) {
      bits[i] = Eigen::numext::bit_cast<uint16_t>(Half(values[start + i]));
    }
    write(bits.data(), static_cast<size_t>(count) * 2);
  }
}

FileDType storage_dtype(DType dtype, StorageDType float_storage) {
  switch (dtype) {
    case DType::f64:
      return FileDType::f64;
    case DType::i64:
      return FileDType::i64;
    case DType::f32:
      break;
  }
  return float_storage == StorageDType::bf16  ? FileDType::bf16
         : float_storage == StorageDType::f16 ? FileDType::f16
                                              : FileDType::f32;
}

}  // namespace

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& user_metadata,
                      StorageDType float_storage, SafetensorsChecksum checksum) {
  std::map<std::string, std::string> metadata = user_metadata;
  metadata.erase(detail::kChecksumKey);  // only ever the one computed here
  // ordered_json keeps "__metadata__" first and the tensors in data order, as the reference
  // writer does, so files match it byte for byte when tensors come in its order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::set<std::string> seen;
  std::vector<FileDType> stored;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    ONESTEP_CHECK(!name.empty(), "save_safetensors '{}': empty tensor name", path);
    ONESTEP_CHECK(name != kMetadataKey,
                  "save_safetensors '{}': \"{}\" is reserved and cannot name a tensor", path,
                  kMetadataKey);
    ONESTEP_CHECK(seen.insert(name).second, "save_safetensors '{}': duplicate tensor name '{}'",
                  path, name);
    ONESTEP_CHECK(tensor.defined(), "save_safetensors '{}': tensor '{}' is undefined", path, name);
    const FileDType dtype = storage_dtype(tensor.dtype(), float_storage);
    const uint64_t nbytes = static_cast<uint64_t>(tensor.numel()) * file_dtype_info(dtype).size;
    header[name] = {{"dtype", file_dtype_info(dtype).name},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    stored.push_back(dtype);
  }

  // Tensor i's stored bytes to `write`: for the checksum, then for the file. One host copy at a
  // time, so saving from a GPU needs only one tensor's worth of RAM.
  const auto write_tensor = [&](size_t i, const WriteChunk& write) {
    NoGradGuard no_grad;
    const Tensor host = tensors[i].second.detach().to(Device::cpu()).contiguous();
    const auto bytes = static_cast<size_t>(host.numel()) * dtype_size(host.dtype());
    switch (stored[i]) {
      case FileDType::bf16:
        write_narrowed<Eigen::bfloat16>(write, host.data<float>(), host.numel());
        break;
      case FileDType::f16:
        write_narrowed<Eigen::half>(write, host.data<float>(), host.numel());
        break;
      default:
        write(host.raw_data(), bytes);
        break;
    }
  };
  const auto write_data = [&](const WriteChunk& write) {
    for (size_t i = 0; i < tensors.size(); ++i) write_tensor(i, write);
  };
  if (checksum == SafetensorsChecksum::crc32) {
    detail::ContentChecksum crc;
    crc.add_metadata(metadata);
    std::vector<size_t> by_name(tensors.size());
    std::iota(by_name.begin(), by_name.end(), size_t{0});
    std::sort(by_name.begin(), by_name.end(),
              [&](size_t a, size_t b) { return tensors[a].first < tensors[b].first; });
    for (size_t i : by_name) {
      crc.add_entry(tensors[i].first, file_dtype_info(stored[i]).name, tensors[i].second.shape());
      write_tensor(i, [&crc](const void* data, size_t size) { crc.add_data(data, size); });
    }
    metadata[detail::kChecksumKey] = detail::kNameOrderPrefix + crc.hex();
  }
  if (!metadata.empty()) {
    // "__metadata__" goes first, as the reference writer puts it.
    nlohmann::ordered_json with_metadata = nlohmann::ordered_json::object();
    with_metadata[kMetadataKey] = metadata;
    for (auto& item : header.items()) with_metadata[item.key()] = std::move(item.value());
    header = std::move(with_metadata);
  }

  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    // Names and metadata must be valid UTF-8 to be JSON strings.
    ONESTEP_FAIL("save_safetensors '{}': cannot encode the header: {}", path, e.what());
  }
  // Padding with spaces keeps the data buffer 8-byte aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(header_text.size() >> (8 * i));

  write_file_atomically(path, [&](const WriteChunk& write) {
    write(length, sizeof(length));
    write(header_text.data(), header_text.size());
    write_data(write);
  });
}

}  // namespace onestep::nn
