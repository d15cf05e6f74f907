// .npy reading (validated in full: the reader faces untrusted files and a fuzzer) and writing.

#include "onestep/diffusion/npy.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "onestep/engine/creation.h"
#include "onestep/nn/atomic_file.h"

// The supported dtypes are little-endian, and bytes are copied as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, ".npy I/O assumes little-endian");

namespace onestep::diffusion {

namespace {

constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// NumPy itself refuses more; a deeper shape is a damaged file.
constexpr size_t kMaxDims = 64;

struct NpyDType {
  const char* descr;
  size_t itemsize;
};

constexpr NpyDType kDTypes[] = {
    {"<f2", 2}, {"<f4", 4}, {"<f8", 8}, {"|i1", 1}, {"|u1", 1}, {"|b1", 1},
    {"<i2", 2}, {"<u2", 2}, {"<i4", 4}, {"<u4", 4}, {"<i8", 8}, {"<u8", 8},
};

template <class... Args>
[[noreturn]] void fail(const std::string& source, fmt::format_string<Args...> format,
                       Args&&... args) {
  ONESTEP_FAIL("npy file '{}': {}", source, fmt::format(format, std::forward<Args>(args)...));
}

// A recursive-descent reader of the header, a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }. Only the literal forms NumPy
// writes are accepted (strings without escapes, True/False, tuples of non-negative ints).
class HeaderParser {
 public:
  HeaderParser(const char* text, size_t size, const std::string& source)
      : begin_(text), p_(text), end_(text + size), source_(source) {}

  void parse(NpyArray& out) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{', "the header must start with '{'");
    skip_space();
    while (!at('}')) {
      const std::string key = parse_string("a key");
      skip_space();
      expect(':', fmt::format("expected ':' after key '{}'", key));
      skip_space();
      if (key == "descr") {
        if (have_descr) fail(source_, "header has key 'descr' twice");
        have_descr = true;
        if (at('[')) fail(source_, "structured dtypes (a list as 'descr') are not supported");
        out.descr = parse_string("the value of 'descr'");
      } else if (key == "fortran_order") {
        if (have_order) fail(source_, "header has key 'fortran_order' twice");
        have_order = true;
        out.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (have_shape) fail(source_, "header has key 'shape' twice");
        have_shape = true;
        out.shape = parse_shape();
      } else {
        fail(source_, "header has unexpected key '{}' (expected descr, fortran_order, shape)", key);
      }
      skip_space();
      if (at(',')) {
        ++p_;
        skip_space();
      } else if (!at('}')) {
        fail(source_, "expected ',' or '}}' after the value of '{}' at header byte {}", key,
             offset());
      }
    }
    ++p_;  // '}'
    skip_space();
    if (p_ != end_) fail(source_, "unexpected text after the header dict at byte {}", offset());
    if (!have_descr) fail(source_, "header lacks key 'descr'");
    if (!have_order) fail(source_, "header lacks key 'fortran_order'");
    if (!have_shape) fail(source_, "header lacks key 'shape'");
  }

 private:
  bool at(char c) const { return p_ != end_ && *p_ == c; }
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  void expect(char c, const std::string& what) {
    if (!at(c)) fail(source_, "malformed header: {}", what);
    ++p_;
  }

  std::string parse_string(const char* what) {
    if (!at('\'') && !at('"')) fail(source_, "malformed header: expected a string as {}", what);
    const char quote = *p_++;
    std::string value;
    while (true) {
      if (p_ == end_) fail(source_, "malformed header: unterminated string in {}", what);
      const char c = *p_++;
      if (c == quote) break;
      if (c == '\\') fail(source_, "malformed header: escapes in strings are not supported");
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        fail(source_, "malformed header: control or non-ASCII byte in {}", what);
      }
      value.push_back(c);
    }
    return value;
  }

  bool match_word(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  bool parse_bool() {
    if (match_word("True")) return true;
    if (match_word("False")) return false;
    fail(source_, "malformed header: 'fortran_order' must be True or False");
  }

  int64_t parse_int() {
    if (p_ == end_ || *p_ < '0' || *p_ > '9') {
      fail(source_, "malformed header: expected a non-negative integer in 'shape'");
    }
    if (*p_ == '0' && p_ + 1 != end_ && p_[1] >= '0' && p_[1] <= '9') {
      fail(source_, "malformed header: leading zero in a 'shape' integer");
    }
    uint64_t value = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      const uint64_t digit = static_cast<uint64_t>(*p_ - '0');
      if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10) {
        fail(source_, "'shape' dimension overflows int64");
      }
      value = value * 10 + digit;
      ++p_;
    }
    if (at('L')) ++p_;  // Python 2 NumPy wrote longs as "3L"
    return static_cast<int64_t>(value);
  }

  Shape parse_shape() {
    expect('(', "'shape' must be a tuple");
    Shape shape;
    bool trailing_comma = false;
    skip_space();
    while (!at(')')) {
      if (shape.size() == kMaxDims) fail(source_, "'shape' has more than {} dimensions", kMaxDims);
      shape.push_back(parse_int());
      skip_space();
      trailing_comma = false;
      if (at(',')) {
        ++p_;
        trailing_comma = true;
        skip_space();
      } else if (!at(')')) {
        fail(source_, "malformed header: expected ',' or ')' in 'shape'");
      }
    }
    ++p_;
    // In Python "(3)" is the int 3, not a tuple.
    if (shape.size() == 1 && !trailing_comma) {
      fail(source_, "malformed header: 'shape' (n) is not a tuple; write (n,)");
    }
    return shape;
  }

  const char* const begin_;
  const char* p_;
  const char* const end_;
  const std::string& source_;
};

std::string shape_tuple(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return out + (shape.size() == 1 ? ",)" : ")");
}

// numel * itemsize, or fail() on a negative dim or overflow.
size_t data_bytes(const Shape& shape, size_t itemsize, const std::string& source) {
  uint64_t bytes = itemsize;
  for (int64_t d : shape) {
    if (d < 0) fail(source, "negative dimension in shape {}", shape_tuple(shape));
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      fail(source, "shape {} times item size {} overflows", shape_tuple(shape), itemsize);
    }
  }
  if (bytes > std::numeric_limits<size_t>::max() / 2) {
    fail(source, "shape {} is too large", shape_tuple(shape));
  }
  return static_cast<size_t>(bytes);
}

std::string supported_list() {
  std::string out;
  for (const auto& t : kDTypes) out += (out.empty() ? "" : ", ") + std::string(t.descr);
  return out;
}

// 0 when `descr` is not supported.
size_t find_itemsize(const std::string& descr) {
  for (const auto& t : kDTypes)
    if (descr == t.descr) return t.itemsize;
  return 0;
}

std::string unsupported_message(const std::string& descr) {
  const bool big_endian = !descr.empty() && descr[0] == '>';
  return fmt::format("{}dtype '{}' is not supported (supported: {})",
                     big_endian ? "big-endian " : "", descr, supported_list());
}

}  // namespace

size_t npy_itemsize(const std::string& descr) {
  const size_t itemsize = find_itemsize(descr);
  ONESTEP_CHECK(itemsize != 0, "npy: {}", unsupported_message(descr));
  return itemsize;
}

NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& source_name) {
  const std::string& src = source_name;
  if (size == 0) fail(src, "empty file");
  if (std::memcmp(data, kMagic, std::min(size, sizeof(kMagic))) != 0) {
    fail(src, "not a .npy file (bad magic; {} bytes)", size);
  }
  if (size < 8) fail(src, "truncated: {} bytes, the magic and version alone are 8", size);
  const int major = data[6], minor = data[7];
  if ((major < 1 || major > 3) || minor != 0) {
    fail(src, "unsupported format version {}.{} (expected 1.0, 2.0 or 3.0)", major, minor);
  }
  const size_t prefix = major == 1 ? 10 : 12;
  if (size < prefix)
    fail(src, "truncated: {} bytes, the header length alone needs {}", size, prefix);
  size_t header_len = static_cast<size_t>(data[8]) | (static_cast<size_t>(data[9]) << 8);
  if (major >= 2) {
    header_len |= (static_cast<size_t>(data[10]) << 16) | (static_cast<size_t>(data[11]) << 24);
  }
  if (header_len > size - prefix) {
    fail(src, "truncated: header length {} needs {} bytes, the file has {}", header_len,
         prefix + header_len, size);
  }

  NpyArray out;
  HeaderParser(reinterpret_cast<const char*>(data + prefix), header_len, src).parse(out);
  const size_t itemsize = find_itemsize(out.descr);
  if (itemsize == 0) fail(src, "{}", unsupported_message(out.descr));
  const size_t expected = data_bytes(out.shape, itemsize, src);
  const size_t actual = size - prefix - header_len;
  if (actual != expected) {
    fail(src, "data is {} bytes, but shape {} of '{}' needs {}{}", actual, shape_tuple(out.shape),
         out.descr, expected, actual < expected ? " (truncated)" : "");
  }
  const uint8_t* begin = data + prefix + header_len;
  out.data.assign(begin, begin + expected);
  return out;
}

NpyArray read_npy(const std::string& path) {
  const std::vector<uint8_t> bytes = nn::read_file(path);
  return parse_npy(bytes.data(), bytes.size(), path);
}

void write_npy(const std::string& path, const std::string& descr, const Shape& shape,
               const void* data) {
  const size_t itemsize = npy_itemsize(descr);
  const size_t nbytes = data_bytes(shape, itemsize, path);
  ONESTEP_CHECK(data != nullptr || nbytes == 0, "write_npy '{}': null data", path);
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_tuple(shape) + ", }";
  // Pad with spaces to a 64-byte boundary (as NumPy does, so the data is aligned), then '\n'.
  size_t prefix = 10;
  size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = (prefix + header.size() + 1 + 63) / 64 * 64;
  }
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');
  std::vector<uint8_t> head(kMagic, kMagic + sizeof(kMagic));
  head.push_back(prefix == 10 ? 1 : 2);
  head.push_back(0);
  const size_t len = header.size();
  for (size_t i = 0; i < prefix - 8; ++i) head.push_back(static_cast<uint8_t>(len >> (8 * i)));
  head.insert(head.end(), header.begin(), header.end());
  nn::write_file_atomically(path, [&](const nn::WriteChunk& write) {
    write(head.data(), head.size());
    if (nbytes) write(data, nbytes);
  });
}

void write_npy(const std::string& path, const Tensor& t) {
  ONESTEP_CHECK(t.defined(), "write_npy '{}': undefined tensor", path);
  const char* descr = nullptr;
  switch (t.dtype()) {
    case DType::f32:
      descr = "<f4";
      break;
    case DType::f64:
      descr = "<f8";
      break;
    case DType::i64:
      descr = "<i8";
      break;
  }
  ONESTEP_CHECK(descr != nullptr, "write_npy '{}': unsupported dtype {}", path,
                dtype_name(t.dtype()));
  const Tensor host = t.to(Device::cpu()).contiguous();
  write_npy(path, descr, host.shape(), host.numel() ? host.raw_data() : nullptr);
}

Tensor npy_to_tensor(const NpyArray& array) {
  ONESTEP_CHECK(!array.fortran_order,
                "npy_to_tensor: Fortran-order (column-major) arrays are not supported");
  const size_t itemsize = npy_itemsize(array.descr);
  const size_t expected = data_bytes(array.shape, itemsize, "<array>");
  ONESTEP_CHECK(array.data.size() == expected,
                "npy_to_tensor: {} data bytes, but shape {} of '{}' needs {}", array.data.size(),
                shape_str(array.shape), array.descr, expected);
  if (array.descr == "<f4") return from_host(array.data.data(), DType::f32, array.shape);
  if (array.descr == "<f8") return from_host(array.data.data(), DType::f64, array.shape);
  if (array.descr == "<i8") return from_host(array.data.data(), DType::i64, array.shape);
  if (array.descr == "|u1") {
    Tensor out = empty(array.shape, DType::f32);
    float* dst = out.data<float>();
    for (size_t i = 0; i < array.data.size(); ++i) dst[i] = static_cast<float>(array.data[i]);
    return out;
  }
  ONESTEP_FAIL("npy_to_tensor: dtype '{}' has no tensor type (supported: <f4, <f8, <i8, |u1)",
               array.descr);
}

}  // namespace onestep::diffusion
