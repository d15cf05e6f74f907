// Every committed fuzz input, replayed in the ordinary test suite through the same target
// functions the libFuzzer binaries call: the seed corpus (fuzz/corpus/<target>) and the inputs
// that once crashed a parser (fuzz/regressions/<target>). Each must parse or be refused with an
// onestep::Error; a crash or any other exception fails the test. Seeds not named bad_* must
// parse.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz_targets.h"

namespace onestep::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs_of(const std::string& folder, const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(ONESTEP_FUZZ_DIR) / folder / target;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

class FuzzInputs : public ::testing::TestWithParam<NamedTarget> {};

// Seeds reach deep only if they parse: every seed not named bad_* must be accepted.
TEST_P(FuzzInputs, SeedsParse) {
  const NamedTarget target = GetParam();
  for (const fs::path& path : inputs_of("corpus", target.name)) {
    if (path.filename().string().rfind("bad_", 0) == 0) continue;
    SCOPED_TRACE(path.string());
    const std::vector<uint8_t> bytes = read_bytes(path);
    try {
      target.run(bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "seed refused: " << e.what();
    }
  }
}

TEST_P(FuzzInputs, ParseOrAreRefusedWithAnError) {
  const NamedTarget target = GetParam();
  const std::vector<fs::path> corpus = inputs_of("corpus", target.name);
  EXPECT_FALSE(corpus.empty()) << "no seed corpus for " << target.name;
  std::vector<fs::path> all = corpus;
  for (const fs::path& p : inputs_of("regressions", target.name)) all.push_back(p);
  for (const fs::path& path : all) {
    SCOPED_TRACE(path.string());
    const std::vector<uint8_t> bytes = read_bytes(path);
    EXPECT_NO_THROW(run_one(target.run, bytes.data(), bytes.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs, ::testing::ValuesIn(all_targets()),
                         [](const ::testing::TestParamInfo<NamedTarget>& info) {
                           return std::string(info.param.name);
                         });

TEST(FuzzInputs, FilesAreSplitOnTheSeparator) {
  const std::string input = std::string("ab") + kFileSeparator + kFileSeparator + "c";
  const auto files = split_files(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], (std::vector<uint8_t>{'a', 'b'}));
  EXPECT_TRUE(files[1].empty());
  EXPECT_EQ(files[2], (std::vector<uint8_t>{'c'}));
  EXPECT_EQ(split_files(nullptr, 0).size(), 1u);
}

}  // namespace
}  // namespace onestep::fuzz
