// Image and array files: uint8 conversion, PNG round trips through libpng, grid layout, scatter
// plots, and .npy round trips plus every malformed-header case (each prefix of a valid file,
// byte-flip fuzzing) failing with onestep::Error rather than crashing.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include "dataset_test_support.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/npy.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {
namespace {

using testing_support::Bytes;
using testing_support::TempDir;
using testing_support::expect_error;
namespace fs = std::filesystem;

// --- uint8 conversion

TEST(ToUint8, RoundsClampsAndTransposesToNhwc) {
  // [1, 2, 1, 3]: channel 0 then channel 1.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = from_vector<float>({-1.f, 0.f, 1.f, 2.f, -3.f, nan}, {1, 2, 1, 3});
  // round((x + 1) * 127.5): -1 -> 0, 0 -> 127.5 -> 128, 1 -> 255; clamps; NaN -> 0.
  const Bytes expected = {0, 255, 128, 0, 255, 0};  // NHWC: (c0, c1) per pixel
  EXPECT_EQ(to_uint8_nhwc(x), expected);
  EXPECT_EQ(to_uint8_nhwc(x.to(DType::f64)), expected);
  // A non-contiguous view converts by its logical layout.
  const Tensor t = from_vector<float>({-1.f, 1.f, 0.f, 0.5f}, {1, 1, 2, 2}).transpose(2, 3);
  EXPECT_EQ(to_uint8_nhwc(t), (Bytes{0, 128, 255, 191}));
  // Just below and above the rounding midpoint 0.5: (x + 1) * 127.5 = 0.49 and 0.51.
  EXPECT_EQ(to_uint8_nhwc(from_vector<double>({0.49 / 127.5 - 1, 0.51 / 127.5 - 1}, {1, 1, 1, 2})),
            (Bytes{0, 1}));
}

TEST(ToUint8, RejectsBadInput) {
  expect_error([] { to_uint8_nhwc(zeros({2, 3})); }, {"[N, C, H, W]"});
  expect_error([] { to_uint8_nhwc(zeros({1, 1, 2, 2}, DType::i64)); }, {"f32 or f64"});
  expect_error([] { to_uint8_nhwc(Tensor()); }, {"undefined"});
}

// --- PNG

Bytes pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

TEST(Png, RoundTripsGrayRgbAndRgba) {
  TempDir dir;
  for (int64_t c : {1, 3, 4}) {
    const int64_t h = 7, w = 13;
    const Bytes pixels = pattern(static_cast<size_t>(h * w * c), static_cast<uint32_t>(c));
    const std::string path = dir.file("img" + std::to_string(c) + ".png");
    write_png(path, pixels.data(), h, w, c);
    int64_t rh = 0, rw = 0, rc = 0;
    const Bytes back = read_png_file(path, &rh, &rw, &rc);
    EXPECT_EQ(rh, h);
    EXPECT_EQ(rw, w);
    if (c == 4) {
      // The reader drops alpha by compositing onto black; check against opaque pixels instead.
      EXPECT_EQ(rc, 3);
      Bytes opaque = pixels;
      for (size_t i = 3; i < opaque.size(); i += 4) opaque[i] = 255;
      write_png(path, opaque.data(), h, w, 4);
      const Bytes again = read_png_file(path, &rh, &rw, &rc);
      for (int64_t p = 0; p < h * w; ++p)
        for (int k = 0; k < 3; ++k) ASSERT_EQ(again[p * 3 + k], opaque[p * 4 + k]) << p;
    } else {
      EXPECT_EQ(rc, c);
      EXPECT_EQ(back, pixels);
    }
  }
}

TEST(Png, TransparentPixelsBecomeBlack) {
  TempDir dir;
  const Bytes rgba = {200, 100, 50, 0, 200, 100, 50, 255};
  write_png(dir.file("a.png"), rgba.data(), 1, 2, 4);
  int64_t h, w, c;
  EXPECT_EQ(read_png_file(dir.file("a.png"), &h, &w, &c), (Bytes{0, 0, 0, 200, 100, 50}));
}

TEST(Png, WriterRejectsBadArguments) {
  TempDir dir;
  const Bytes px(12, 0);
  expect_error([&] { write_png(dir.file("x.png"), px.data(), 2, 2, 2); }, {"channels"});
  expect_error([&] { write_png(dir.file("x.png"), px.data(), 0, 2, 1); }, {"size"});
  expect_error([&] { write_png(dir.file("no/such/dir/x.png"), px.data(), 2, 2, 1); },
               {"no/such/dir"});
}

TEST(Png, ReaderRejectsTruncatedCorruptAndForeignData) {
  TempDir dir;
  const Bytes pixels = pattern(32 * 32 * 3, 7);
  const std::string path = dir.file("ok.png");
  write_png(path, pixels.data(), 32, 32, 3);
  const Bytes good = nn::read_file(path);
  int64_t h, w, c;
  // Every truncation fails cleanly (the IEND chunk is the last 12 bytes; libpng does not need
  // it, so cuts inside it may still decode).
  for (size_t n = 0; n + 12 < good.size(); n += 7) {
    expect_error([&] { decode_png(good.data(), n, "cut.png", &h, &w, &c); }, {"cut.png"});
  }
  // Damaged image data: the chunk CRC no longer matches.
  Bytes bad = good;
  bad[good.size() / 2] ^= 0x55;
  expect_error([&] { decode_png(bad.data(), bad.size(), "bad.png", &h, &w, &c); }, {"bad.png"});
  const std::string text = "this is not a PNG file at all";
  expect_error(
      [&] {
        decode_png(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "t.png", &h, &w, &c);
      },
      {"t.png", "not a PNG file"});
  expect_error([&] { read_png_file(dir.file("missing.png"), &h, &w, &c); }, {"missing.png"});
}

TEST(Png, ByteFlipsNeverCrash) {
  TempDir dir;
  const Bytes pixels = pattern(16 * 16, 3);
  write_png(dir.file("f.png"), pixels.data(), 16, 16, 1);
  const Bytes good = nn::read_file(dir.file("f.png"));
  std::mt19937 rng(1);
  int errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    Bytes bad = good;
    for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
    int64_t h, w, c;
    try {
      decode_png(bad.data(), bad.size(), "fuzz.png", &h, &w, &c);
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

// --- grids and scatter plots

TEST(ImageGrid, LaysOutTilesRowByRowWithPadding) {
  TempDir dir;
  // 5 gray 4x3 images with constant values; image i has value -1 + 0.25 i.
  std::vector<float> v;
  for (int i = 0; i < 5; ++i) v.insert(v.end(), 12, -1.f + 0.25f * i);
  const Tensor images = from_vector(v, {5, 1, 4, 3});
  const std::string path = dir.file("grid.png");
  write_image_grid(path, images, /*columns=*/0, /*padding=*/2);  // 3 columns, 2 rows
  int64_t h, w, c;
  const Bytes grid = read_png_file(path, &h, &w, &c);
  ASSERT_EQ(h, 2 * 4 + 3 * 2);
  ASSERT_EQ(w, 3 * 3 + 4 * 2);
  ASSERT_EQ(c, 1);
  auto at = [&](int64_t y, int64_t x) { return grid[y * w + x]; };
  for (int i = 0; i < 5; ++i) {
    const int64_t top = 2 + (i / 3) * 6, left = 2 + (i % 3) * 5;
    const auto expected = static_cast<uint8_t>(std::lround(0.25 * i * 127.5 + 0.001));
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 3; ++x) EXPECT_EQ(at(top + y, left + x), expected) << i;
  }
  EXPECT_EQ(at(0, 0), 255);                  // border padding
  EXPECT_EQ(at(2, 5), 255);                  // between columns
  EXPECT_EQ(at(6, 2), 255);                  // between rows
  EXPECT_EQ(at(8 + 1, 2 + 2 * 5 + 1), 255);  // the empty sixth cell

  write_image_grid(path, zeros({3, 3, 5, 5}), /*columns=*/1, /*padding=*/0, /*pad_value=*/0);
  read_png_file(path, &h, &w, &c);
  EXPECT_EQ(h, 15);
  EXPECT_EQ(w, 5);
  EXPECT_EQ(c, 3);
  expect_error([&] { write_image_grid(path, zeros({2, 2, 4, 4})); }, {"1 or 3 channels"});
  expect_error([&] { write_image_grid(path, zeros({0, 1, 4, 4})); }, {"no pixels"});
}

TEST(ScatterPlot, DrawsPointsReferenceAndAxes) {
  TempDir dir;
  const std::string path = dir.file("scatter.png");
  const Tensor points = from_vector<float>({1.5f, 1.5f, 100.f, 0.f}, {2, 2});  // one outside
  const Tensor reference = from_vector<double>({-1.5, -1.5}, {1, 2});
  write_scatter_png(path, points, reference, /*extent=*/3.0, /*size=*/257);
  int64_t h, w, c;
  const Bytes img = read_png_file(path, &h, &w, &c);
  ASSERT_EQ(h, 257);
  ASSERT_EQ(w, 257);
  ASSERT_EQ(c, 3);
  auto px = [&](int64_t row, int64_t col) { return img.data() + (row * w + col) * 3; };
  // (x, y) -> column (x + 3) / 6 * 256, row 256 - (y + 3) / 6 * 256.
  EXPECT_LT(px(64, 192)[0], 100);  // the point at (1.5, 1.5) is dark
  EXPECT_EQ(px(192, 64)[0], 200);  // the reference point at (-1.5, -1.5) is light grey
  EXPECT_EQ(px(10, 10)[0], 255);   // background
  EXPECT_EQ(px(128, 10)[0], 190);  // x axis through y = 0
  EXPECT_EQ(px(10, 128)[0], 190);  // y axis through x = 0
  write_scatter_png(path, points, Tensor(), 3.0, 64);
  read_png_file(path, &h, &w, &c);
  EXPECT_EQ(h, 64);
  expect_error([&] { write_scatter_png(path, zeros({3, 3}), Tensor()); }, {"[N, 2]"});
  expect_error([&] { write_scatter_png(path, points, Tensor(), -1.0); }, {"extent"});
}

// --- .npy

// magic, version 1.0 or 2.0, header length, then `header` as is (no padding), then `data`.
Bytes npy_file(const std::string& header, const Bytes& data, int major = 1) {
  Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const size_t n = header.size();
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

NpyArray parse(const Bytes& b) {
  return parse_npy(b.data(), b.size(), "t.npy");
}

TEST(Npy, RoundTripsTensors) {
  TempDir dir;
  const std::vector<Tensor> tensors = {
      from_vector<float>({1.5f, -2.f, 3.25f, 0.f, 1e-30f, 7.f}, {2, 3}),
      from_vector<double>({3.141592653589793, -1e300}, {2}),
      from_vector<int64_t>({-5, std::numeric_limits<int64_t>::max(), 0, 1}, {1, 2, 1, 2}),
      scalar_tensor(2.5),
      zeros({0, 4}),
      from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1),  // not contiguous
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string path = dir.file("t" + std::to_string(i) + ".npy");
    write_npy(path, tensors[i]);
    const Bytes raw = nn::read_file(path);
    EXPECT_EQ((raw.size() - tensors[i].numel() * dtype_size(tensors[i].dtype())) % 64, 0u)
        << "data should start 64-byte aligned";
    const NpyArray array = read_npy(path);
    EXPECT_FALSE(array.fortran_order);
    const Tensor back = npy_to_tensor(array);
    EXPECT_EQ(back.dtype(), tensors[i].dtype());
    EXPECT_EQ(back.shape(), tensors[i].shape());
    EXPECT_EQ(back.to_vector<double>(), tensors[i].to_vector<double>());
  }
}

TEST(Npy, WritesNumpysLayout) {
  TempDir dir;
  const std::string path = dir.file("u8.npy");
  const Bytes pixels = {0, 1, 254, 255, 7, 9};
  write_npy(path, "|u1", {1, 2, 1, 3}, pixels.data());
  const Bytes raw = nn::read_file(path);
  // As numpy.save writes it: the dict, spaces, '\n', up to a multiple of 64 bytes in all.
  std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 1, 3), }";
  header += std::string(128 - 10 - header.size() - 1, ' ') + "\n";
  EXPECT_EQ(raw, npy_file(header, pixels));
  const NpyArray array = read_npy(path);
  EXPECT_EQ(array.descr, "|u1");
  EXPECT_EQ(array.shape, (Shape{1, 2, 1, 3}));
  EXPECT_EQ(array.data, pixels);
  EXPECT_EQ(npy_to_tensor(array).to_vector<float>(), (std::vector<float>{0, 1, 254, 255, 7, 9}));
  // 1-D and 0-d shapes are written as Python tuples.
  const float one = 1.f;
  write_npy(path, "<f4", {1}, &one);
  const Bytes one_d = nn::read_file(path);
  EXPECT_NE(std::string(one_d.begin(), one_d.end()).find("'shape': (1,), }"), std::string::npos);
  write_npy(path, "<f4", {}, &one);
  EXPECT_EQ(read_npy(path).shape, Shape{});
  expect_error([&] { write_npy(path, ">f4", {1}, &one); }, {"big-endian"});
  expect_error([&] { write_npy(path, Tensor()); }, {"undefined"});
}

TEST(Npy, ParsesHeaderVariants) {
  const Bytes data(6 * 8, 0);
  for (const std::string& header : {
           std::string("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n"),
           std::string("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}"),
           std::string("{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(2,3)}   \n"),
           std::string(
               " {  'descr' : '<f8' ,\n 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , } "),
           std::string("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }"),
       }) {
    SCOPED_TRACE(header);
    const NpyArray a = parse(npy_file(header, data));
    EXPECT_EQ(a.descr, "<f8");
    EXPECT_EQ(a.shape, (Shape{2, 3}));
    EXPECT_FALSE(a.fortran_order);
  }
  // Format 2.0 (4-byte header length) and 3.0 (UTF-8 header).
  const std::string header = "{'descr': '<i8', 'fortran_order': True, 'shape': (6,), }\n";
  for (int major : {2, 3}) {
    const NpyArray a = parse(npy_file(header, data, major));
    EXPECT_TRUE(a.fortran_order);
    EXPECT_EQ(a.shape, Shape{6});
    expect_error([&] { npy_to_tensor(a); }, {"Fortran"});
  }
  // Empty arrays and every supported dtype's item size.
  EXPECT_EQ(parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5)}", {})).shape,
            (Shape{0, 5}));
  const NpyArray b =
      parse(npy_file("{'descr': '<u2', 'fortran_order': False, 'shape': (3,)}", Bytes(6, 1)));
  EXPECT_EQ(b.data.size(), 6u);
  expect_error([&] { npy_to_tensor(b); }, {"'<u2'", "no tensor type"});
}

TEST(Npy, RejectsMalformedFiles) {
  const Bytes data4(4 * 4, 0);
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", "big-endian"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", "dtype '<c8' is not supported"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", "structured"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", "not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", "tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", "non-negative"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (04,), }", "leading zero"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (4,), }", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False}", "lacks key 'shape'"},
      {"{'fortran_order': False, 'shape': (4,)}", "lacks key 'descr'"},
      {"{'descr': '<f4', 'shape': (4,)}", "lacks key 'fortran_order'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "twice"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", "unexpected key"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (4,)}", "expected ','"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,),, }", "expected a string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} x", "after the header"},
      {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (4,)}", "escapes"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (4,)}", "expected ','"},
      {"['descr', '<f4']", "start with '{'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2,), }", "needs 32"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "overflows"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
       "overflows"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(200, '1') + ",)}",
       "overflows"},
  };
  for (const auto& [header, message] : cases) {
    SCOPED_TRACE(header);
    expect_error([&] { parse(npy_file(header, data4)); }, {"t.npy", message});
  }
  // Too many or too few data bytes.
  expect_error([&] { parse(npy_file(ok, Bytes(17, 0))); }, {"17 bytes", "needs 16"});
  expect_error([&] { parse(npy_file(ok, Bytes(15, 0))); }, {"truncated"});
  // Bad magic, version, header length.
  Bytes file = npy_file(ok, data4);
  Bytes bad = file;
  bad[1] = 'n';
  expect_error([&] { parse(bad); }, {"bad magic"});
  bad = file;
  bad[6] = 4;
  expect_error([&] { parse(bad); }, {"version 4.0"});
  bad = file;
  bad[7] = 1;
  expect_error([&] { parse(bad); }, {"version 1.1"});
  bad = file;
  bad[9] = 0x7f;
  expect_error([&] { parse(bad); }, {"header length"});
  // Every proper prefix of a valid file fails cleanly.
  for (size_t n = 0; n < file.size(); ++n) {
    expect_error([&] { parse_npy(file.data(), n, "cut.npy"); }, {"cut.npy"});
  }
  // A directory and a missing file are errors naming the path.
  expect_error([] { read_npy("/nonexistent/a.npy"); }, {"/nonexistent/a.npy"});
  const uint8_t magic_only[] = {0x93, 'N', 'U', 'M'};
  expect_error([&] { parse_npy(magic_only, 4, "m.npy"); }, {"m.npy", "truncated"});
  expect_error([&] { parse_npy(nullptr, 0, "empty.npy"); }, {"empty.npy"});
}

TEST(Npy, ByteFlipsNeverCrash) {
  const Bytes file = npy_file(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }       \n", Bytes(24, 1));
  std::mt19937 rng(5);
  int parsed = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    Bytes bad = file;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      // Mostly within the header, where the parser works.
      bad[rng() % 80] = static_cast<uint8_t>(rng() % 4 ? rng() % 128 : rng());
    }
    if (rng() % 4 == 0) bad.resize(rng() % bad.size());
    try {
      const NpyArray a = parse_npy(bad.data(), bad.size(), "fuzz.npy");
      ++parsed;
      // Whatever parses is self-consistent.
      size_t numel = 1;
      for (int64_t d : a.shape) numel *= static_cast<size_t>(d);
      ASSERT_EQ(a.data.size(), numel * npy_itemsize(a.descr));
    } catch (const Error&) {
    }
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace onestep::diffusion
