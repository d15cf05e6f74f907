#pragma once
// Helpers shared by the dataset tests: temporary directories, raw files, error expectations.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "onestep/diffusion/datasets.h"
#include "onestep/engine.h"
#include "testing/expect_error.h"

namespace onestep::diffusion::testing_support {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("onestep_datasets_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

using ::onestep::testing::expect_error;

inline DataOptions opts(uint64_t seed, bool hflip = false, bool test_split = false) {
  DataOptions o;
  o.seed = seed;
  o.hflip = hflip;
  o.test_split = test_split;
  return o;
}

// The uint8 value v as the loaders scale it.
inline float scaled(int v) {
  return static_cast<float>(v / 127.5 - 1.0);
}
// The uint8 value a scaled pixel came from.
inline int unscaled(float x) {
  return static_cast<int>(std::lround((x + 1.0) * 127.5));
}

}  // namespace onestep::diffusion::testing_support
