// safetensors I/O: round trips, 16-bit storage, the reference library's documented bytes, every
// malformed-header case, truncation and byte-flip robustness, and the atomic writer's failure
// paths (old file intact, no temp file left).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"
#include "onestep/nn/safetensors.h"
#include "testing/expect_error.h"

namespace onestep::nn {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

const std::string kSource = "bad.safetensors";

// 8-byte little-endian length, then `header` as is (no padding), then `data`.
Bytes assemble(const std::string& header, const Bytes& data = {}) {
  Bytes out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

template <class T>
Bytes bytes_of(const std::vector<T>& values) {
  Bytes out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The error message of parsing `bytes`, or a test failure when it parses.
std::string parse_error(const Bytes& bytes) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), kSource);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed without an error";
  return "";
}

void expect_error(const Bytes& bytes, const std::vector<std::string>& fragments) {
  const std::string message = parse_error(bytes);
  EXPECT_NE(message.find(kSource), std::string::npos) << message;
  for (const auto& fragment : fragments)
    EXPECT_NE(message.find(fragment), std::string::npos)
        << "'" << fragment << "' not in: " << message;
}

// A fresh directory per test, removed afterwards.
class SafetensorsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "onestep_st_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string temp_of(const std::string& p) const {
    return p + ".tmp." + std::to_string(::getpid());
  }
  // Every name in the test directory, to show that no temp file is left behind.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string text_of(const std::string& p) {
    const Bytes b = read_file(p);
    return std::string(b.begin(), b.end());
  }
  static void write_text(const std::string& p, const std::string& text) {
    write_file_atomically(p, text.data(), text.size());
  }

  fs::path dir_;
};

// --- round trips

TEST_F(SafetensorsFiles, RoundTripKeepsDtypesShapesValuesOrderAndMetadata) {
  const Tensor base = arange(0, 12).reshape({3, 4});
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"w.f32", from_vector<float>({1.5f, -2.25f, 3e-30f, 7e30f, 0.f, -0.f}, {2, 3})},
      {"a.f64", from_vector<double>({1.0 / 3.0, -1e-300, 1e300}, {3})},
      {"labels", from_vector<int64_t>({-5, 0, std::numeric_limits<int64_t>::max()}, {3, 1})},
      {"scalar", scalar_tensor(4.5)},
      {"empty", zeros({0, 3})},
      {"empty.i64", zeros({2, 0, 1}, DType::i64)},
      {"transposed", base.transpose(0, 1)},          // non-contiguous: [4, 3]
      {"strided", base.slice(1, 0, 4, 2)},           // non-contiguous: [3, 2]
      {"param", ones({2}).set_requires_grad(true)},  // a leaf that requires grad
  };
  const std::map<std::string, std::string> metadata = {
      {"config", R"({"channels": 32, "name": "ünï"})"}, {"format", "pt"}, {"empty", ""}};
  const std::string p = path("model.safetensors");
  save_safetensors(p, tensors, metadata);

  const SafetensorsContent loaded = load_safetensors(p);
  EXPECT_EQ(loaded.metadata, metadata);
  EXPECT_EQ(loaded.source_name, p);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(tensors[i].first);
    const Tensor& want = tensors[i].second;
    const Tensor& got = loaded.tensors[i].second;
    EXPECT_EQ(loaded.tensors[i].first, tensors[i].first);  // data order = given order
    EXPECT_EQ(got.dtype(), want.dtype());
    EXPECT_EQ(got.shape(), want.shape());
    EXPECT_TRUE(got.device().is_cpu());
    if (want.dtype() == DType::i64) {
      EXPECT_EQ(got.to_vector<int64_t>(), want.to_vector<int64_t>());
    } else {
      EXPECT_EQ(got.to_vector<double>(), want.to_vector<double>());
    }
  }
  EXPECT_EQ(loaded.at("transposed").to_vector<float>(),
            (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_TRUE(loaded.contains("scalar"));
  EXPECT_FALSE(loaded.contains("missing"));
  EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(SafetensorsFiles, HeaderIsSpacePaddedToEightBytes) {
  const std::string p = path("pad.safetensors");
  for (const std::string name : {"a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "x8"}) {
    save_safetensors(p, {{name, ones({1})}});
    const Bytes b = read_file(p);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
    EXPECT_EQ(n % 8, 0u) << name;
    EXPECT_EQ(b.size(), 8 + n + 4);
    const std::string header(b.begin() + 8, b.begin() + 8 + n);
    EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1).back(), '}');
  }
}

TEST_F(SafetensorsFiles, NativeF32KeepsEveryBitIncludingNaNPayloads) {
  const std::vector<uint32_t> patterns = {0x7fc00001u, 0xffbfffffu, 0x7f800000u,
                                          0x00000001u, 0x80000000u, 0x7f7fffffu};
  std::vector<float> values(patterns.size());
  std::memcpy(values.data(), patterns.data(), 4 * patterns.size());
  save_safetensors(path("bits"), {{"x", from_vector(values, {6})}});
  const std::vector<float> got = load_safetensors(path("bits")).at("x").to_vector<float>();
  for (size_t i = 0; i < patterns.size(); ++i) EXPECT_EQ(bits_of(got[i]), patterns[i]) << i;
}

// --- the reference implementation's documented bytes (safetensors/src/tensor.rs tests)

// {"attn0": F32 [1,1,2,3] = 0..5}, header padded with spaces to 72 bytes.
const Bytes kReferenceAttn0 = {
    72,  0,   0,   0,   0,   0,   0,   0,   123, 34, 97, 116, 116, 110, 48,  34,  58,  123,
    34,  100, 116, 121, 112, 101, 34,  58,  34,  70, 51, 50,  34,  44,  34,  115, 104, 97,
    112, 101, 34,  58,  91,  49,  44,  49,  44,  50, 44, 51,  93,  44,  34,  100, 97,  116,
    97,  95,  111, 102, 102, 115, 101, 116, 115, 34, 58, 91,  48,  44,  50,  52,  93,  125,
    125, 32,  32,  32,  32,  32,  32,  32,  0,   0,  0,  0,   0,   0,   128, 63,  0,   0,
    0,   64,  0,   0,   64,  64,  0,   0,   128, 64, 0,  0,   160, 64};

TEST_F(SafetensorsFiles, ReadsAndWritesTheReferenceBytesExactly) {
  const SafetensorsContent c =
      parse_safetensors(kReferenceAttn0.data(), kReferenceAttn0.size(), "reference");
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(c.tensors[0].first, "attn0");
  EXPECT_EQ(c.tensors[0].second.dtype(), DType::f32);
  EXPECT_EQ(c.tensors[0].second.shape(), (Shape{1, 1, 2, 3}));
  EXPECT_EQ(c.tensors[0].second.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(c.metadata.empty());

  save_safetensors(path("attn0"), {{"attn0", arange(0, 6).reshape({1, 1, 2, 3})}});
  EXPECT_EQ(read_file(path("attn0")), kReferenceAttn0);

  // No tensors: "{}" and six spaces; with metadata {"framework": "pt"}: padded to 40 bytes.
  save_safetensors(path("empty"), {});
  EXPECT_EQ(read_file(path("empty")),
            (Bytes{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 32, 32, 32, 32, 32, 32}));
  save_safetensors(path("meta"), {}, {{"framework", "pt"}});
  EXPECT_EQ(read_file(path("meta")), assemble(R"({"__metadata__":{"framework":"pt"}})"
                                              "     "));
  EXPECT_EQ(load_safetensors(path("meta")).metadata.at("framework"), "pt");
}

TEST(Safetensors, ReadsUnpaddedHeadersAndOrdersByDataOffset) {
  // Older writers did not pad; JSON key order differs from data order; zero-size tensors may
  // share an offset with their neighbours.
  const std::string header = "{" + entry("z", "F32", "[1]", "[0,4]") + "," +
                             entry("a", "I64", "[1]", "[4,12]") + "," +
                             entry("m", "F32", "[0]", "[4,4]") + "}";
  Bytes data = bytes_of<float>({2.5f});
  const Bytes i64 = bytes_of<int64_t>({-7});
  data.insert(data.end(), i64.begin(), i64.end());
  const Bytes file = assemble(header, data);
  const SafetensorsContent c = parse_safetensors(file.data(), file.size(), "x");
  ASSERT_EQ(c.tensors.size(), 3u);
  EXPECT_EQ(c.tensors[0].first, "z");
  EXPECT_EQ(c.tensors[1].first, "m");
  EXPECT_EQ(c.tensors[2].first, "a");
  EXPECT_EQ(c.at("a").to_vector<int64_t>(), std::vector<int64_t>{-7});
  EXPECT_EQ(c.at("m").shape(), Shape{0});
}

TEST(Safetensors, AtNamesTheMissingKeyAndTheFile) {
  const Bytes file = assemble("{" + entry("present", "F32", "[]", "[0,4]") + "}", Bytes(4));
  const SafetensorsContent c = parse_safetensors(file.data(), file.size(), "ckpt.safetensors");
  testing::expect_error([&] { c.at("absent"); }, {"'absent'", "ckpt.safetensors", "'present'"});
}

// --- 16-bit storage

// The 16-bit patterns stored for `values`, read back from the file's data buffer.
std::vector<uint16_t> stored_bits(const std::string& p, size_t count) {
  const Bytes b = read_file(p);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
  std::vector<uint16_t> bits(count);
  std::memcpy(bits.data(), b.data() + 8 + n, 2 * count);
  return bits;
}

TEST_F(SafetensorsFiles, Bf16StorageRoundsToNearestEven) {
  const float two_m8 = std::ldexp(1.f, -8);
  const std::vector<float> values = {
      1.f,
      -2.f,
      0.f,
      -0.f,
      0.15625f,
      1.f + two_m8,                         // tie between 1 and 1+2^-7 -> 1 (even)
      1.f + 3 * two_m8,                     // tie between 1+2^-7 and 1+2^-6 -> 1+2^-6 (even)
      1.f + two_m8 + std::ldexp(1.f, -20),  // just above the tie -> 1+2^-7
      std::ldexp(1.f, -133),                // smallest bf16 subnormal, exact
      std::numeric_limits<float>::max(),    // rounds up past the largest bf16 -> inf
      -std::numeric_limits<float>::infinity(),
      std::numeric_limits<float>::quiet_NaN()};
  const std::string p = path("bf16");
  save_safetensors(p, {{"x", from_vector(values, {12})}, {"d", from_vector<double>({0.1}, {1})}},
                   {}, StorageDType::bf16);
  std::vector<uint16_t> bits = stored_bits(p, 12);
  const uint16_t nan_bits = bits.back();
  bits.pop_back();
  EXPECT_EQ(bits, (std::vector<uint16_t>{0x3f80, 0xc000, 0x0000, 0x8000, 0x3e20, 0x3f80, 0x3f82,
                                         0x3f81, 0x0001, 0x7f80, 0xff80}));
  EXPECT_TRUE((nan_bits & 0x7f80) == 0x7f80 && (nan_bits & 0x007f) != 0) << nan_bits;

  const SafetensorsContent c = load_safetensors(p);
  EXPECT_EQ(c.at("d").dtype(), DType::f64);  // f64 is never narrowed
  EXPECT_EQ(c.at("d").to_vector<double>(), std::vector<double>{0.1});
  const std::vector<float> got = c.at("x").to_vector<float>();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> want = {1.f,
                                   -2.f,
                                   0.f,
                                   -0.f,
                                   0.15625f,
                                   1.f,
                                   1.f + 4 * two_m8,
                                   1.f + 2 * two_m8,
                                   std::ldexp(1.f, -133),
                                   inf,
                                   -inf};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(bits_of(got[i]), bits_of(want[i])) << i;
  EXPECT_TRUE(std::isnan(got[11]));
}

TEST_F(SafetensorsFiles, F16StorageRoundsToNearestEvenWithSubnormalsAndOverflow) {
  const float two_m11 = std::ldexp(1.f, -11);
  const float tiny = std::ldexp(1.f, -24);  // smallest f16 subnormal
  const std::vector<float> values = {1.f,
                                     -2.f,
                                     65504.f,        // largest f16
                                     65519.f,        // below the midpoint to 65536 -> 65504
                                     65520.f,        // the midpoint: rounds to even, which is inf
                                     1.f + two_m11,  // tie -> 1
                                     1.f + 3 * two_m11,  // tie -> 1+2^-9
                                     tiny,
                                     1023 * tiny,   // smallest and largest subnormal, exact
                                     tiny / 2,      // tie between 0 and tiny -> 0
                                     3 * tiny / 2,  // tie between tiny and 2 tiny -> 2 tiny (even)
                                     std::ldexp(1.f, -14),
                                     -0.f};
  const std::string p = path("f16");
  save_safetensors(p, {{"x", from_vector(values, {13})}}, {}, StorageDType::f16);
  EXPECT_EQ(stored_bits(p, 13),
            (std::vector<uint16_t>{0x3c00, 0xc000, 0x7bff, 0x7bff, 0x7c00, 0x3c00, 0x3c02, 0x0001,
                                   0x03ff, 0x0000, 0x0002, 0x0400, 0x8000}));
  const std::vector<float> got = load_safetensors(p).at("x").to_vector<float>();
  const std::vector<float> want = {1.f,         -2.f, 65504.f,           65504.f,
                                   INFINITY,    1.f,  1.f + 4 * two_m11, tiny,
                                   1023 * tiny, 0.f,  2 * tiny,          std::ldexp(1.f, -14),
                                   -0.f};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(bits_of(got[i]), bits_of(want[i])) << i;
}

TEST_F(SafetensorsFiles, SixteenBitStorageErrorIsWithinHalfAnUlp) {
  Rng gen(7);
  // Magnitudes from 2^-10 to 2^10, inside both formats' normal ranges.
  const Tensor x = randn({4096}, gen) * exp(randn({4096}, gen) * 3.0);
  const std::vector<float> want = x.to_vector<float>();
  for (auto [storage, bits] :
       {std::pair{StorageDType::bf16, 8}, std::pair{StorageDType::f16, 11}}) {
    save_safetensors(path("r"), {{"x", x}}, {}, storage);
    const Tensor got = load_safetensors(path("r")).at("x");
    EXPECT_EQ(got.dtype(), DType::f32);
    const std::vector<float> g = got.to_vector<float>();
    for (size_t i = 0; i < want.size(); ++i) {
      if (std::fabs(want[i]) < 6.2e-5f || std::fabs(want[i]) > 60000.f) continue;  // f16 range
      // Round to nearest: error <= half an ulp = 2^-bits relative to the binade's start.
      EXPECT_LE(std::fabs(g[i] - want[i]), std::ldexp(std::fabs(want[i]), -bits)) << want[i];
    }
  }
}

TEST(Safetensors, DecodesSixteenBitSpecialValues) {
  const std::vector<uint16_t> f16 = {0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00,
                                     0xfc00, 0x8000, 0x3555, 0x7e00, 0xfe01};
  const std::vector<uint16_t> bf16 = {0x0001, 0x007f, 0x0080, 0x7f7f, 0x7f80,
                                      0xff80, 0x8000, 0x3eab, 0x7fc0, 0xffc1};
  Bytes data = bytes_of(f16);
  const Bytes more = bytes_of(bf16);
  data.insert(data.end(), more.begin(), more.end());
  const Bytes file = assemble("{" + entry("h", "F16", "[10]", "[0,20]") + "," +
                                  entry("b", "BF16", "[2,5]", "[20,40]") + "}",
                              data);
  const SafetensorsContent c = parse_safetensors(file.data(), file.size(), "x");
  ASSERT_EQ(c.at("b").shape(), (Shape{2, 5}));
  const std::vector<float> h = c.at("h").to_vector<float>();
  const std::vector<float> b = c.at("b").to_vector<float>();
  const std::vector<float> want_h = {std::ldexp(1.f, -24),
                                     1023 * std::ldexp(1.f, -24),
                                     std::ldexp(1.f, -14),
                                     65504.f,
                                     INFINITY,
                                     -INFINITY,
                                     -0.f,
                                     std::ldexp(1365.f, -12)};
  for (size_t i = 0; i < want_h.size(); ++i) EXPECT_EQ(bits_of(h[i]), bits_of(want_h[i])) << i;
  // bf16 is the top half of an f32, so decoding must reproduce every bit, NaN payloads included.
  for (size_t i = 0; i < bf16.size(); ++i) EXPECT_EQ(bits_of(b[i]), uint32_t{bf16[i]} << 16) << i;
  EXPECT_EQ(b[0], std::ldexp(1.f, -133));
  EXPECT_EQ(b[7], std::ldexp(171.f, -9));
  for (int i : {8, 9}) {
    EXPECT_TRUE(std::isnan(h[i])) << i;
    EXPECT_TRUE(std::isnan(b[i])) << i;
  }
  EXPECT_TRUE(std::signbit(h[9]) && std::signbit(b[9]));
}

// --- malformed files: each must give an Error naming the file and the problem

// A file with one F32 tensor "t" whose entry is `body` (the inside of its object).
Bytes one_tensor(const std::string& body, size_t data_bytes = 8) {
  return assemble("{\"t\":{" + body + "}}", Bytes(data_bytes));
}

TEST(SafetensorsMalformed, LengthField) {
  for (size_t n = 0; n < 8; ++n) expect_error(Bytes(n, 0), {"shorter than the 8-byte"});
  Bytes big = assemble("{}");
  big[0] = 0x01;
  big[1] = 0xe1;
  big[2] = 0xf5;
  big[3] = 0x05;  // 100000001
  expect_error(big, {"header length 100000001 exceeds the 100000000-byte limit"});
  expect_error(Bytes(16, 0xff), {"exceeds the 100000000-byte limit"});
  Bytes longer = assemble("{}");
  longer[0] = 3;
  expect_error(longer, {"header length 3 is larger than the 2 bytes"});
}

TEST(SafetensorsMalformed, JsonSyntaxAndTopLevel) {
  expect_error(assemble(""), {"not valid JSON"});
  expect_error(assemble("{\"t\": "), {"not valid JSON"});
  expect_error(assemble("{} x"), {"not valid JSON"});
  expect_error(assemble("{\"\xff\":1}"), {"not valid JSON"});  // invalid UTF-8
  // nlohmann stops at a NUL byte; the parser must not accept what follows it.
  expect_error(assemble(std::string("{}\0", 3)), {"NUL byte at header offset 2"});
  expect_error(assemble(std::string("{} \0 garbage", 13)), {"NUL byte"});
  expect_error(assemble("[]"), {"header must be a JSON object, got array"});
  expect_error(assemble("\"t\""), {"header must be a JSON object, got string"});
  expect_error(assemble("7"), {"header must be a JSON object, got number"});
  expect_error(assemble(std::string(100, '[') + std::string(100, ']')), {"nested more than"});
  // Deep enough to overflow a recursive parser's stack.
  expect_error(assemble(std::string(1 << 20, '[')), {"nested more than"});
}

TEST(SafetensorsMalformed, EntryStructure) {
  expect_error(assemble("{\"t\":5}"), {"entry 't' must be an object", "got number"});
  expect_error(assemble("{\"t\":[]}"), {"entry 't' must be an object", "got array"});
  expect_error(one_tensor(R"("shape":[2],"data_offsets":[0,8])"), {"'t' has no \"dtype\""});
  expect_error(one_tensor(R"("dtype":"F32","data_offsets":[0,8])"), {"'t' has no \"shape\""});
  expect_error(one_tensor(R"("dtype":"F32","shape":[2])"), {"'t' has no \"data_offsets\""});
  expect_error(one_tensor(R"("dtype":32,"shape":[2],"data_offsets":[0,8])"),
               {"\"dtype\" must be a string"});
  expect_error(one_tensor(R"("dtype":"F32","shape":"2","data_offsets":[0,8])"),
               {"\"shape\" must be an array"});
  expect_error(one_tensor(R"("dtype":"F32","shape":{"0":2},"data_offsets":[0,8])"),
               {"\"shape\" must be an array"});
}

TEST(SafetensorsMalformed, ShapeEntries) {
  const auto with_shape = [](const std::string& shape) {
    return one_tensor("\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,8]");
  };
  expect_error(with_shape("[-2]"), {"negative dimension -2"});
  expect_error(with_shape("[2, -1]"), {"negative dimension -1"});
  for (const char* bad : {"[2.0]", "[1.5]", "[\"2\"]", "[true]", "[null]", "[[2]]", "[2e0]"}) {
    expect_error(with_shape(bad), {"\"shape\" entries must be non-negative integers"});
  }
  // Too big for uint64 at all: nlohmann reads it as a float.
  expect_error(with_shape("[18446744073709551616]"), {"non-negative integers"});
  expect_error(with_shape("[4294967296, 4294967296]"), {"too many elements", "overflows"});
  expect_error(with_shape("[9223372036854775808]"), {"too many elements"});
  // A zero dim makes the count 0, but the engine's strides would still overflow.
  expect_error(with_shape("[0, 4294967296, 4294967296]"), {"too many elements"});
  expect_error(with_shape("[4611686018427387904]"), {"overflows 64 bits in bytes"});
}

TEST(SafetensorsMalformed, DataOffsets) {
  const auto with_offsets = [](const std::string& offsets) {
    return one_tensor("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" + offsets);
  };
  for (const char* bad : {"[0]", "[0,8,8]", "[]", "8", "[-1,7]", "[0.0,8.0]", "[\"0\",\"8\"]",
                          "[0,null]", "{\"0\":0,\"1\":8}", "[0,18446744073709551616]"}) {
    expect_error(with_offsets(bad), {"\"data_offsets\" must be two non-negative integers"});
  }
  expect_error(with_offsets("[8,0]"), {"data_offsets [8, 0] end before they begin"});
  expect_error(with_offsets("[0,4]"),
               {"'t'", "span 4 bytes but dtype F32 and shape [2] need 8 bytes"});
  expect_error(one_tensor(R"("dtype":"F64","shape":[2],"data_offsets":[0,8])"),
               {"dtype F64 and shape [2] need 16 bytes"});
  expect_error(one_tensor(R"("dtype":"BF16","shape":[2],"data_offsets":[0,8])"),
               {"dtype BF16 and shape [2] need 4 bytes"});
}

TEST(SafetensorsMalformed, Layout) {
  const std::string a = entry("a", "F32", "[2]", "[0,8]");
  // Not starting at 0.
  expect_error(assemble("{" + entry("a", "F32", "[2]", "[4,12]") + "}", Bytes(12)),
               {"must start at offset 0", "'a' starts at 4"});
  // A hole between tensors.
  expect_error(assemble("{" + a + "," + entry("b", "F32", "[1]", "[12,16]") + "}", Bytes(16)),
               {"4-byte gap", "'a' (ends at 8)", "'b' (starts at 12)"});
  // Overlapping tensors, and two tensors on the same bytes.
  expect_error(assemble("{" + a + "," + entry("b", "F32", "[1]", "[4,8]") + "}", Bytes(8)),
               {"'b'", "overlaps tensor 'a' which ends at 8"});
  expect_error(assemble("{" + a + "," + entry("b", "F32", "[2]", "[0,8]") + "}", Bytes(16)),
               {"overlaps"});
  // Data buffer longer or shorter than the tensors.
  expect_error(assemble("{" + a + "}", Bytes(9)),
               {"has 9 bytes but the tensors cover 8", "1 trailing bytes"});
  expect_error(assemble("{" + a + "}", Bytes(7)),
               {"has 7 bytes but the tensors need 8", "truncated"});
  expect_error(assemble("{}", Bytes(3)), {"3 trailing bytes"});
}

TEST(SafetensorsMalformed, DuplicateKeysAtEveryLevel) {
  const std::string a = entry("a", "F32", "[2]", "[0,8]");
  expect_error(assemble("{" + a + "," + a + "}", Bytes(8)), {"duplicate key \"a\""});
  expect_error(
      assemble(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", Bytes(8)),
      {"duplicate key \"dtype\""});
  expect_error(assemble(R"({"__metadata__":{"k":"1","k":"2"}})"), {"duplicate key \"k\""});
  expect_error(assemble(R"({"__metadata__":{},"__metadata__":{}})"),
               {"duplicate key \"__metadata__\""});
  // Inside an ignored extra field, and in objects nested in arrays.
  expect_error(assemble(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],)"
                        R"("x":[{"q":1},{"q":1,"q":2}]}})",
                        Bytes(8)),
               {"duplicate key \"q\""});
}

TEST(SafetensorsMalformed, Metadata) {
  for (const char* bad : {"\"x\"", "[]", "null", "1", "[\"k\",\"v\"]"}) {
    expect_error(assemble(std::string("{\"__metadata__\":") + bad + "}"),
                 {"\"__metadata__\" must be an object of strings"});
  }
  for (const char* bad : {"1", "null", "{}", "[\"v\"]", "true"}) {
    expect_error(assemble(std::string("{\"__metadata__\":{\"k\":") + bad + "}}"),
                 {"\"__metadata__\" value for key \"k\" must be a string"});
  }
}

TEST(SafetensorsMalformed, Dtypes) {
  const auto with_dtype = [](const std::string& dtype) {
    return assemble("{" + entry("layer.w", dtype, "[2]", "[0,8]") + "}", Bytes(8));
  };
  for (const char* dtype : {"I32", "U8", "BOOL", "F8_E4M3", "U64", "I16"}) {
    expect_error(with_dtype(dtype), {"'layer.w' has unsupported dtype " + std::string(dtype)});
  }
  for (const char* dtype : {"F33", "f32", "", "float32"}) {
    expect_error(with_dtype(dtype), {"'layer.w' has unknown dtype \"" + std::string(dtype)});
  }
}

// --- robustness: truncation and corruption never crash

Bytes small_valid_file() {
  const std::string header =
      "{\"__metadata__\":{\"k\":\"v\"}," + entry("a", "F32", "[2]", "[0,8]") + "," +
      entry("b", "BF16", "[3]", "[8,14]") + "," + entry("c", "I64", "[]", "[14,22]") + "}";
  Bytes data(22);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 37);
  return assemble(header, data);
}

TEST(SafetensorsRobustness, EveryTruncationIsAnError) {
  const Bytes file = small_valid_file();
  ASSERT_EQ(parse_safetensors(file.data(), file.size(), "x").tensors.size(), 3u);
  for (size_t n = 0; n < file.size(); ++n) {
    // A fresh allocation of exactly n bytes, so that reading past it would be caught by ASan.
    const Bytes prefix(file.begin(), file.begin() + n);
    EXPECT_THROW(parse_safetensors(prefix.data(), prefix.size(), "x"), Error) << n;
  }
}

TEST(SafetensorsRobustness, ByteCorruptionGivesErrorsOrValidContent) {
  const Bytes file = small_valid_file();
  for (size_t i = 0; i < file.size(); ++i) {
    for (uint8_t value : {0x00, 0x01, 0x22, 0x2c, 0x5b, 0x7b, 0x7d, 0x80, 0xff}) {
      Bytes corrupt = file;
      corrupt[i] = value;
      try {
        const SafetensorsContent c = parse_safetensors(corrupt.data(), corrupt.size(), "x");
        for (const auto& [name, t] : c.tensors) EXPECT_TRUE(t.defined()) << name;
      } catch (const Error&) {
        // Only onestep::Error may escape; anything else fails the test.
      }
    }
  }
}

// --- the content checksum

TEST_F(SafetensorsFiles, TheChecksumTurnsAnyFlippedBitIntoAnError) {
  const std::string p = path("ckpt.safetensors");
  save_safetensors(p, {{"w", arange(0, 6).reshape({2, 3})}, {"n", full({2}, 7.0, DType::i64)}},
                   {{"config", "{}"}}, StorageDType::native, SafetensorsChecksum::crc32);
  const Bytes file = read_file(p);
  const SafetensorsContent c = parse_safetensors(file.data(), file.size(), "ckpt");
  EXPECT_EQ(c.metadata, (std::map<std::string, std::string>{{"config", "{}"}}));
  EXPECT_EQ(c.at("w").to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  // Without the checksum the writer's bytes are unchanged (the reference tests above), and a
  // checksum passed in as metadata is never written as given.
  save_safetensors(path("plain"), {{"w", arange(0, 6).reshape({2, 3})}},
                   {{"onestep.crc32", "00000000"}});
  EXPECT_TRUE(load_safetensors(path("plain")).metadata.empty());

  // Every bit of the data, and every bit of the header that still parses, is covered.
  int refused = 0, accepted = 0;
  for (size_t i = 8; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; bit += 3) {
      Bytes corrupt = file;
      corrupt[i] ^= static_cast<uint8_t>(1 << bit);
      try {
        parse_safetensors(corrupt.data(), corrupt.size(), "ckpt");
        ++accepted;  // JSON whitespace, or the padding
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 0);
  const size_t data_start = file.size() - 6 * 4 - 2 * 8;
  for (size_t i = data_start; i < file.size(); ++i) {
    Bytes corrupt = file;
    corrupt[i] ^= 0x01;
    EXPECT_NE(parse_error(corrupt).find("checksum mismatch"), std::string::npos) << i;
  }
  EXPECT_LT(accepted, 40) << "only insignificant header bytes may change unnoticed";
}

// The checksum is of the content: the same tensors and metadata saved in another order (as the
// reference writer orders them its own way) carry the same value, and a changed value of any
// tensor another.
TEST_F(SafetensorsFiles, TheChecksumDependsOnTheContentNotTheLayout) {
  const auto checksum_of = [&](const std::vector<std::pair<std::string, Tensor>>& tensors) {
    const std::string p = path("layout.safetensors");
    save_safetensors(p, tensors, {{"config", "{}"}}, StorageDType::native,
                     SafetensorsChecksum::crc32);
    const Bytes file = read_file(p);
    uint64_t header_size = 0;
    std::memcpy(&header_size, file.data(), 8);
    const auto header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + header_size);
    return header.at("__metadata__").at("onestep.crc32").get<std::string>();
  };
  const Tensor w = arange(0, 6).reshape({2, 3}), n = full({2}, 7.0, DType::i64);
  const std::string forward = checksum_of({{"w", w}, {"n", n}});
  EXPECT_EQ(forward.rfind("name-order:", 0), 0u) << forward;
  EXPECT_EQ(checksum_of({{"n", n}, {"w", w}}), forward);
  EXPECT_NE(checksum_of({{"n", n}, {"w", w + 1.0}}), forward);
  EXPECT_NE(checksum_of({{"n", n}, {"v", w}}), forward);  // a name is content too
}

// --- saving: argument errors write nothing

TEST_F(SafetensorsFiles, SaveRejectsBadNamesBeforeTouchingTheFile) {
  const std::string p = path("ckpt.safetensors");
  write_text(p, "old");
  const auto expect_save_error = [&](const std::vector<std::pair<std::string, Tensor>>& tensors,
                                     const std::string& fragment) {
    try {
      save_safetensors(p, tensors);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(fragment), std::string::npos) << m;
      EXPECT_NE(m.find(p), std::string::npos) << m;
    }
    EXPECT_EQ(text_of(p), "old");
    EXPECT_EQ(listing(), std::vector<std::string>{"ckpt.safetensors"});
  };
  const Tensor t = ones({2});
  expect_save_error({{"a", t}, {"b", t}, {"a", t}}, "duplicate tensor name 'a'");
  expect_save_error({{"", t}}, "empty tensor name");
  expect_save_error({{"__metadata__", t}}, "\"__metadata__\" is reserved");
  expect_save_error({{"u", Tensor()}}, "tensor 'u' is undefined");
  expect_save_error({{"bad\xff", t}}, "cannot encode the header");
}

// --- reading files

TEST_F(SafetensorsFiles, ReadFileErrorsNameThePathAndTheReason) {
  const auto message_of = [](const std::string& p) {
    try {
      read_file(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string missing = path("missing.safetensors");
  std::string m = message_of(missing);
  EXPECT_NE(m.find(missing), std::string::npos) << m;
  EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
  m = message_of(dir_.string());
  EXPECT_NE(m.find("is a directory"), std::string::npos) << m;
  EXPECT_THROW(load_safetensors(missing), Error);

  write_text(path("empty"), "");
  EXPECT_TRUE(read_file(path("empty")).empty());
  // /proc files report size 0 but have content: the reader must not trust st_size.
  const Bytes status = read_file("/proc/self/status");
  EXPECT_NE(std::string(status.begin(), status.end()).find("Pid:"), std::string::npos);
}

// --- atomic writes

TEST_F(SafetensorsFiles, SavingReplacesAnExistingFile) {
  const std::string p = path("ckpt.safetensors");
  save_safetensors(p, {{"x", ones({3})}});
  save_safetensors(p, {{"y", zeros({2, 2}, DType::f64)}}, {{"step", "2"}});
  const SafetensorsContent c = load_safetensors(p);
  EXPECT_FALSE(c.contains("x"));
  EXPECT_EQ(c.at("y").shape(), (Shape{2, 2}));
  EXPECT_EQ(c.metadata.at("step"), "2");
  EXPECT_EQ(listing(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST_F(SafetensorsFiles, StreamingWriterWritesChunksInOrder) {
  const std::string p = path("chunks");
  write_file_atomically(p, [](const WriteChunk& write) {
    write("ab", 2);
    write("", 0);
    write("cde", 3);
  });
  EXPECT_EQ(text_of(p), "abcde");
}

TEST_F(SafetensorsFiles, MissingDirectoryFailsCleanly) {
  const std::string p = path("no/such/dir/ckpt.safetensors");
  testing::expect_error(
      [&] {
        save_safetensors(p, {{"x", ones({1})}});
      },
      {p, "No such file or directory"});
  EXPECT_TRUE(listing().empty());
}

TEST_F(SafetensorsFiles, FullDeviceFailsAndKeepsTheOldFile) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  const std::string p = path("ckpt.safetensors");
  save_safetensors(p, {{"old", ones({4})}});
  const Bytes before = read_file(p);
  // The temp name is predictable, so a symlink there sends the write to /dev/full, which fails
  // every write with ENOSPC: a full disk that needs no privileges to set up.
  fs::create_symlink("/dev/full", temp_of(p));
  testing::expect_error(
      [&] {
        save_safetensors(p, {{"new", zeros({1000})}});
      },
      {p, "No space left on device"});
  EXPECT_EQ(read_file(p), before);
  EXPECT_EQ(listing(), std::vector<std::string>{"ckpt.safetensors"});
  EXPECT_TRUE(fs::exists("/dev/full"));
}

TEST_F(SafetensorsFiles, ShortWriteFailsAndKeepsTheOldFile) {
  // RLIMIT_FSIZE binds root too: writes past it fail with EFBIG (and SIGXFSZ, ignored here),
  // which exercises the partial-write path.
  const std::string p = path("big");
  write_text(p, "old contents");
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 4096) GTEST_SKIP() << "low hard limit";
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  const std::string payload(1 << 16, 'x');
  try {
    write_file_atomically(p, payload.data(), payload.size());
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_NE(message.find("after 4096 bytes"), std::string::npos) << message;
  EXPECT_EQ(text_of(p), "old contents");
  EXPECT_EQ(listing(), std::vector<std::string>{"big"});
}

TEST_F(SafetensorsFiles, FailedRenameKeepsTheTargetAndRemovesTheTemp) {
  // A non-empty directory cannot be replaced by a file, even by root.
  const std::string p = path("target");
  fs::create_directory(p);
  write_text(p + "/inside", "keep");
  testing::expect_error([&] { write_text(p, "new"); }, {"rename", p});
  EXPECT_EQ(text_of(p + "/inside"), "keep");
  EXPECT_EQ(listing(), std::vector<std::string>{"target"});
}

TEST_F(SafetensorsFiles, ProducerExceptionKeepsTheOldFile) {
  const std::string p = path("f");
  write_text(p, "old");
  EXPECT_THROW(write_file_atomically(p,
                                     [](const WriteChunk& write) {
                                       write("partial", 7);
                                       throw std::runtime_error("producer failed");
                                     }),
               std::runtime_error);
  EXPECT_EQ(text_of(p), "old");
  EXPECT_EQ(listing(), std::vector<std::string>{"f"});
}

}  // namespace
}  // namespace onestep::nn
