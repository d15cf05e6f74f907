// Dataset files: Fashion-MNIST, CIFAR-10 and PNG-folder loaders on synthetic files (values,
// labels, padding, scaling) and on the real Fashion-MNIST files when installed; a clear
// onestep::Error for every kind of damaged input.

#include <gtest/gtest.h>
#include <zlib.h>

#include <map>
#include <set>

#include "dataset_test_support.h"
#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {
namespace {

using namespace testing_support;

// The datasets padded or stored at 32 x 32 with ten classes (Fashion-MNIST, CIFAR-10).
void expect_ten_class_32px_images(const DatasetInfo& info, const std::string& name,
                                  int64_t channels, int64_t size) {
  EXPECT_EQ(info.name, name);
  EXPECT_FALSE(info.is_2d);
  EXPECT_EQ(info.channels, channels);
  EXPECT_EQ(info.height, 32);
  EXPECT_EQ(info.width, 32);
  EXPECT_EQ(info.num_classes, 10);
  EXPECT_EQ(info.size, size);
}

// ------------------------------------------------------------------------- Fashion-MNIST

Bytes gzip(const Bytes& raw) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, raw.size()) + 64);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// Image i's pixel (y, x) in the synthetic IDX files; pixel (0, 0) is i itself.
uint8_t fm_pixel(int64_t i, int64_t y, int64_t x) {
  return static_cast<uint8_t>(y == 0 && x == 0 ? i : (i * 5 + y * 11 + x * 3) % 256);
}

Bytes idx_images(uint32_t n, uint32_t rows = 28, uint32_t magic = 2051) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, n);
  put_be32(b, rows);
  put_be32(b, 28);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < rows; ++y)
      for (uint32_t x = 0; x < 28; ++x) b.push_back(fm_pixel(i, y, x));
  return b;
}

Bytes idx_labels(uint32_t n, uint32_t magic = 2049) {
  Bytes b;
  put_be32(b, magic);
  put_be32(b, n);
  for (uint32_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>((i * 3) % 10));
  return b;
}

void write_fmnist(const TempDir& dir, const Bytes& images, const Bytes& labels,
                  const std::string& prefix = "train") {
  write_bytes(dir.file(prefix + "-images-idx3-ubyte.gz"), gzip(images));
  write_bytes(dir.file(prefix + "-labels-idx1-ubyte.gz"), gzip(labels));
}

TEST(FashionMnist, SyntheticFilesArePaddedScaledAndLabeled) {
  TempDir dir;
  write_fmnist(dir, idx_images(50), idx_labels(50));
  const ImageSet set = load_fashion_mnist(dir.str());
  ASSERT_EQ(set.info.size, 50);
  ASSERT_EQ(set.pixels.size(), 50u * 32 * 32);
  for (int64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(set.labels[i], (i * 3) % 10);
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        const bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        ASSERT_EQ(set.pixels[(i * 32 + y) * 32 + x], inside ? fm_pixel(i, y - 2, x - 2) : 0);
      }
  }

  auto data = open_dataset("fashion-mnist:" + dir.str(), opts(1));
  const DatasetInfo& info = data->info();
  EXPECT_EQ(info.spec, "fashion-mnist:" + dir.str());
  expect_ten_class_32px_images(info, "fashion-mnist", 1, 50);
  const Batch batch = data->next_batch(50);
  ASSERT_EQ(batch.x.shape(), (Shape{50, 1, 32, 32}));
  const auto x = batch.x.to_vector<float>();
  const auto labels = batch.labels.to_vector<int64_t>();
  std::set<int64_t> seen;
  for (int64_t k = 0; k < 50; ++k) {
    const float* img = x.data() + k * 1024;
    const int64_t i = unscaled(img[2 * 32 + 2]);
    seen.insert(i);
    EXPECT_EQ(labels[k], (i * 3) % 10);
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t xx = 0; xx < 32; ++xx) {
        const bool inside = y >= 2 && y < 30 && xx >= 2 && xx < 30;
        ASSERT_EQ(img[y * 32 + xx], inside ? scaled(fm_pixel(i, y - 2, xx - 2)) : -1.f);
      }
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(FashionMnist, ReadsUncompressedFilesAndTheTestSplit) {
  TempDir dir;
  write_bytes(dir.file("t10k-images-idx3-ubyte"), idx_images(7));
  write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx_labels(7));
  auto data = open_dataset("fashion-mnist:" + dir.str(), opts(0, false, true));
  EXPECT_EQ(data->info().size, 7);
  expect_error([&] { open_dataset("fashion-mnist:" + dir.str()); },
               {"missing file", dir.file("train-images-idx3-ubyte.gz")});
}

TEST(FashionMnist, DamagedFilesGiveClearErrors) {
  const Bytes images = idx_images(20), labels = idx_labels(20);
  struct Case {
    std::string what;
    Bytes images_gz, labels_gz;
    std::vector<std::string> message;
  };
  Bytes cut = gzip(images);
  cut.resize(cut.size() / 2);
  Bytes trailing = gzip(labels);
  trailing.insert(trailing.end(), {1, 2, 3});
  Bytes big_label = labels;
  big_label[8 + 5] = 10;
  const std::vector<Case> cases = {
      {"truncated .gz", cut, gzip(labels), {"train-images-idx3-ubyte.gz", "truncated gzip"}},
      {"not gzip", Bytes(100, 'x'), gzip(labels), {"images-idx3-ubyte.gz", "corrupt gzip"}},
      {"garbage after the stream", gzip(images), trailing, {"labels-idx1-ubyte.gz", "garbage"}},
      {"bad image magic",
       gzip(idx_images(20, 28, 2049)),
       gzip(labels),
       {"images-idx3-ubyte.gz", "bad magic number 2049 (expected 2051)"}},
      {"bad label magic",
       gzip(images),
       gzip(idx_labels(20, 2051)),
       {"labels-idx1-ubyte.gz", "bad magic number 2051 (expected 2049)"}},
      {"count mismatch", gzip(images), gzip(idx_labels(19)), {"20 images", "19 labels"}},
      {"truncated images",
       gzip(Bytes(images.begin(), images.end() - 100)),
       gzip(labels),
       {"images-idx3-ubyte.gz", "truncated", std::to_string(images.size() - 100) + " bytes",
        "expected " + std::to_string(images.size())}},
      {"truncated labels",
       gzip(images),
       gzip(Bytes(labels.begin(), labels.end() - 1)),
       {"labels-idx1-ubyte.gz", "truncated", "27 bytes", "expected 28"}},
      {"trailing image bytes",
       gzip([&] {
         Bytes b = images;
         b.push_back(0);
         return b;
       }()),
       gzip(labels),
       {"trailing data"}},
      {"header only",
       gzip(Bytes(images.begin(), images.begin() + 10)),
       gzip(labels),
       {"truncated", "IDX header"}},
      {"empty file", Bytes{}, gzip(labels), {"images-idx3-ubyte.gz", "truncated gzip"}},
      {"wrong image size", gzip(idx_images(20, 27)), gzip(labels), {"27x28", "expected 28x28"}},
      {"label out of range", gzip(images), gzip(big_label), {"label 10 of item 5"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir dir;
    write_bytes(dir.file("train-images-idx3-ubyte.gz"), c.images_gz);
    write_bytes(dir.file("train-labels-idx1-ubyte.gz"), c.labels_gz);
    expect_error([&] { open_dataset("fashion-mnist:" + dir.str()); }, c.message);
  }
  expect_error([] { open_dataset("fashion-mnist:/nonexistent/fm"); },
               {"missing file", "/nonexistent/fm/train-images-idx3-ubyte.gz"});
}

TEST(FashionMnist, RealFiles) {
  if (!fs::exists(fs::path(kDefaultFashionMnistDir) / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed in " << kDefaultFashionMnistDir
                 << " (Debian package dataset-fashion-mnist; CI has it)";
  }
  ImageSet set = load_fashion_mnist(kDefaultFashionMnistDir);
  ASSERT_EQ(set.info.size, 60000);
  ASSERT_EQ(set.pixels.size(), 60000u * 32 * 32);
  EXPECT_EQ(std::vector<int64_t>(set.labels.begin(), set.labels.begin() + 12),
            (std::vector<int64_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9}));
  std::vector<int64_t> per_class(10, 0);
  for (int64_t label : set.labels) ++per_class.at(static_cast<size_t>(label));
  for (int64_t n : per_class) EXPECT_EQ(n, 6000);
  int64_t first_sum = 0;  // of image 0, from the raw file
  for (size_t p = 0; p < 1024; ++p) first_sum += set.pixels[p];
  EXPECT_EQ(first_sum, 76247);

  auto data = make_image_source(std::move(set), opts(0, true));
  const Batch batch = data->next_batch(256);
  ASSERT_EQ(batch.x.shape(), (Shape{256, 1, 32, 32}));
  const auto x = batch.x.to_vector<float>();
  for (int64_t k = 0; k < 256; ++k)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t xx = 0; xx < 32; ++xx) {
        if (y >= 2 && y < 30 && xx >= 2 && xx < 30) continue;
        ASSERT_EQ(x[(k * 32 + y) * 32 + xx], -1.f);  // the black border
      }
  for (int64_t label : batch.labels.to_vector<int64_t>()) {
    EXPECT_GE(label, 0);
    EXPECT_LT(label, 10);
  }
  const float lo = *std::min_element(x.begin(), x.end());
  const float hi = *std::max_element(x.begin(), x.end());
  EXPECT_EQ(lo, -1.f);
  EXPECT_EQ(hi, 1.f);

  auto test = open_dataset("fashion-mnist", opts(0, false, true));
  EXPECT_EQ(test->info().size, 10000);
  EXPECT_EQ(test->info().spec, "fashion-mnist");
}

// ------------------------------------------------------------------------------- CIFAR-10

// Record r's channel c pixel (y, x); channel 0's (0, 0) and (0, 1) hold r's low and high byte.
uint8_t cifar_pixel(int64_t r, int64_t c, int64_t y, int64_t x) {
  if (c == 0 && y == 0 && x < 2) return static_cast<uint8_t>(x == 0 ? r & 255 : r >> 8);
  return static_cast<uint8_t>((r * 7 + c * 85 + y * 3 + x) & 255);
}

Bytes cifar_file(int64_t records = 10000, int64_t label_offset = 0) {
  Bytes b;
  b.reserve(static_cast<size_t>(records * 3073));
  for (int64_t r = 0; r < records; ++r) {
    b.push_back(static_cast<uint8_t>((r + label_offset) % 10));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) b.push_back(cifar_pixel(r, c, y, x));
  }
  return b;
}

TEST(Cifar10, SyntheticBatchesLoadWithLabelsAndPlanes) {
  TempDir dir;
  const Bytes file = cifar_file();
  write_bytes(dir.file("test_batch.bin"), file);
  auto test = open_dataset("cifar10:" + dir.str(), opts(2, false, true));
  const DatasetInfo& info = test->info();
  expect_ten_class_32px_images(info, "cifar10", 3, 10000);
  const Batch batch = test->next_batch(64);
  ASSERT_EQ(batch.x.shape(), (Shape{64, 3, 32, 32}));
  const auto x = batch.x.to_vector<float>();
  const auto labels = batch.labels.to_vector<int64_t>();
  for (int64_t k = 0; k < 64; ++k) {
    const float* img = x.data() + k * 3072;
    const int64_t r = unscaled(img[0]) + 256 * unscaled(img[1]);
    EXPECT_EQ(labels[k], r % 10);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t xx = 0; xx < 32; ++xx)
          ASSERT_EQ(img[(c * 32 + y) * 32 + xx], scaled(cifar_pixel(r, c, y, xx)));
  }

  // The training split: five files in order, also found inside cifar-10-batches-bin/.
  fs::create_directories(dir.file("cifar-10-batches-bin"));
  for (int i = 1; i <= 5; ++i) {
    write_bytes(dir.file("cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin"),
                i == 3 ? cifar_file(10000, 1) : file);
  }
  const ImageSet train = load_cifar10(dir.str());
  ASSERT_EQ(train.info.size, 50000);
  EXPECT_EQ(train.labels[20000], 1);  // record 0 of file 3
  EXPECT_EQ(train.labels[49999], 9);
  EXPECT_EQ(train.pixels[static_cast<size_t>(49999) * 3072], 49999 % 10000 & 255);
}

TEST(Cifar10, DamagedFilesGiveClearErrors) {
  TempDir dir;
  const std::string d = "cifar10:" + dir.str();
  expect_error([&] { open_dataset(d); }, {"missing file", dir.file("data_batch_1.bin")});
  Bytes file = cifar_file();
  write_bytes(dir.file("data_batch_1.bin"), file);
  write_bytes(dir.file("data_batch_2.bin"), file);
  expect_error([&] { open_dataset(d); }, {"missing file", dir.file("data_batch_3.bin")});
  write_bytes(dir.file("test_batch.bin"), Bytes(file.begin(), file.end() - 100));
  expect_error([&] { open_dataset(d, opts(0, false, true)); },
               {dir.file("test_batch.bin"), "not a whole number of records", "truncated",
                "expected 30730000"});
  write_bytes(dir.file("test_batch.bin"), Bytes(file.begin(), file.end() - 3073));
  expect_error([&] { open_dataset(d, opts(0, false, true)); }, {"30726927 bytes", "truncated"});
  file[3073 * 17] = 10;
  write_bytes(dir.file("test_batch.bin"), file);
  expect_error([&] { open_dataset(d, opts(0, false, true)); }, {"record 17 has label 10"});
}

// ------------------------------------------------------------------------------ PNG folder

TEST(PngFolder, LoadsSortedImagesAndMixesGrayIntoRgb) {
  TempDir dir;
  // Written out of name order; gray, RGB and opaque RGBA mixed.
  const Bytes gray = {0, 50, 100, 150, 200, 255};  // 2x3
  Bytes rgb(18), rgba(24);
  for (int p = 0; p < 6; ++p) {
    for (int c = 0; c < 3; ++c) rgb[p * 3 + c] = static_cast<uint8_t>(10 * p + c);
    for (int c = 0; c < 3; ++c) rgba[p * 4 + c] = static_cast<uint8_t>(100 + 10 * p + c);
    rgba[p * 4 + 3] = 255;
  }
  write_png(dir.file("c.png"), rgba.data(), 2, 3, 4);
  write_png(dir.file("a.png"), rgb.data(), 2, 3, 3);
  write_png(dir.file("b.PNG"), gray.data(), 2, 3, 1);
  write_bytes(dir.file("notes.txt"), {'h', 'i'});  // other files are ignored
  fs::create_directories(dir.file("sub.png"));     // and so are directories

  const ImageSet set = load_png_folder(dir.str());
  EXPECT_EQ(set.info.name, "png");
  EXPECT_EQ(set.info.size, 3);
  EXPECT_EQ(set.info.channels, 3);
  EXPECT_EQ(set.info.height, 2);
  EXPECT_EQ(set.info.width, 3);
  EXPECT_EQ(set.info.num_classes, 0);
  EXPECT_TRUE(set.labels.empty());
  auto px = [&](int64_t i, int64_t c, int64_t p) { return set.pixels[(i * 3 + c) * 6 + p]; };
  for (int p = 0; p < 6; ++p)
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(px(0, c, p), rgb[p * 3 + c]);   // a.png
      EXPECT_EQ(px(1, c, p), gray[p]);          // b.PNG, gray in every channel
      EXPECT_EQ(px(2, c, p), rgba[p * 4 + c]);  // c.png
    }

  auto data = open_dataset("png:" + dir.str(), opts(0));
  EXPECT_EQ(data->info().spec, "png:" + dir.str());
  const Batch batch = data->next_batch(3);
  EXPECT_EQ(batch.x.shape(), (Shape{3, 3, 2, 3}));
  EXPECT_FALSE(batch.labels.defined());

  TempDir gray_dir;
  write_png(gray_dir.file("x.png"), gray.data(), 2, 3, 1);
  EXPECT_EQ(load_png_folder(gray_dir.str()).info.channels, 1);
  expect_error([&] { open_dataset("png:" + gray_dir.str(), opts(0, false, true)); },
               {"no test split"});
}

// EDM's dataset layout (dataset_tool.py): images in numbered subfolders, classes in dataset.json.
TEST(PngFolder, ReadsEdmsDatasetLayoutAndItsLabels) {
  TempDir dir;
  fs::create_directories(dir.file("00000"));
  fs::create_directories(dir.file("00001"));
  for (int i = 0; i < 3; ++i) {
    const Bytes px(2 * 2, static_cast<uint8_t>(40 * i));
    write_png(dir.file(i < 2 ? fmt::format("00000/img0000000{}.png", i) : "00001/img00001000.png"),
              px.data(), 2, 2, 1);
  }
  ImageSet set = load_png_folder(dir.str());
  EXPECT_EQ(set.info.size, 3);
  EXPECT_TRUE(set.labels.empty());
  EXPECT_EQ(set.info.num_classes, 0);
  EXPECT_EQ(set.pixels[4 * 2], 80);  // sorted by relative path: 00001/... last
  const std::string labels =
      R"({"labels": [["00001/img00001000.png", 4], ["00000/img00000000.png", 0],)"
      R"( ["00000/img00000001.png", 2]]})";
  write_bytes(dir.file("dataset.json"), Bytes(labels.begin(), labels.end()));
  set = load_png_folder(dir.str());
  EXPECT_EQ(set.labels, (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(set.info.num_classes, 5);
  const std::string null_labels = R"({"labels": null})";
  write_bytes(dir.file("dataset.json"), Bytes(null_labels.begin(), null_labels.end()));
  EXPECT_TRUE(load_png_folder(dir.str()).labels.empty());
  // Damaged label files: named, never a crash.
  for (const auto& [json, fragment] : std::vector<std::pair<std::string, std::string>>{
           {R"({"labels": [["00000/img00000000.png", 1]]})", "no label for '00000/img00000001.png'"},
           {R"({"labels": [["00000/img00000000.png", -1]]})", "class in [0"},
           {R"({"labels": [["00000/img00000000.png"]]})", "each label must be"},
           {R"({"labels": 3})", "dataset.json"},
           {R"({"classes": []})", "expected"},
           {R"({"labels": [)", "not valid JSON"}}) {
    write_bytes(dir.file("dataset.json"), Bytes(json.begin(), json.end()));
    expect_error([&] { load_png_folder(dir.str()); }, {"dataset.json", fragment});
  }
}

TEST(PngFolder, DamagedFoldersGiveClearErrors) {
  const Bytes px(4 * 5 * 3, 77);
  {
    TempDir dir;
    expect_error([&] { load_png_folder(dir.str()); }, {dir.str(), "no .png files"});
    write_bytes(dir.file("readme.md"), {'x'});
    expect_error([&] { load_png_folder(dir.str()); }, {"no .png files"});
  }
  expect_error([] { load_png_folder("/nonexistent/pngs"); },
               {"/nonexistent/pngs", "does not exist"});
  {
    TempDir dir;
    write_png(dir.file("a.png"), px.data(), 4, 5, 3);
    write_png(dir.file("b.png"), px.data(), 5, 4, 3);
    expect_error([&] { load_png_folder(dir.str()); }, {"'a.png' is 4x5", "'b.png' is 5x4"});
  }
  {
    TempDir dir;
    write_png(dir.file("a.png"), px.data(), 4, 5, 3);
    write_bytes(dir.file("b.png"), {'n', 'o', 't', ' ', 'p', 'n', 'g'});
    expect_error([&] { load_png_folder(dir.str()); }, {dir.file("b.png"), "not a PNG file"});
  }
  {
    TempDir dir;
    write_png(dir.file("a.png"), px.data(), 4, 5, 3);
    Bytes bytes = nn::read_file(dir.file("a.png"));
    write_bytes(dir.file("b.png"), Bytes(bytes.begin(), bytes.begin() + bytes.size() / 2));
    expect_error([&] { load_png_folder(dir.str()); }, {dir.file("b.png")});
    bytes[bytes.size() - 20] ^= 0xff;  // inside the image data: a CRC mismatch
    write_bytes(dir.file("b.png"), bytes);
    expect_error([&] { load_png_folder(dir.str()); }, {dir.file("b.png"), "corrupt"});
  }
}

}  // namespace
}  // namespace onestep::diffusion
