// Every committed fuzz input, replayed in the ordinary test suite through the same target
// functions the libFuzzer binaries call. The seed corpus (fuzz/corpus/<target>) must parse or be
// refused with an onestep::Error (seeds not named bad_* must parse); a crash or any other
// exception fails the test. Each input that once crashed a parser (fuzz/regressions/<target>)
// must be refused with the error that now guards it, under an address-space cap as
// scripts/fuzz.sh runs libFuzzer with -malloc_limit_mb: reintroducing the over-allocation it
// found fails the test (std::bad_alloc, or another message), where "any onestep::Error" would
// not.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <sys/resource.h>
#include <unistd.h>

#include <new>

#include "fuzz_targets.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/engine/error.h"

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
  for (const fs::path& path : corpus) {
    SCOPED_TRACE(path.string());
    const std::vector<uint8_t> bytes = read_bytes(path);
    EXPECT_NO_THROW(run_one(target.run, bytes.data(), bytes.size()));
  }
}

// What refuses each regression now, and the words of its error.
struct Regression {
  const char* target;
  const char* file;
  const char* error;
};
const Regression kRegressions[] = {
    {"checkpoint", "config_claims_a_huge_network",
     "the config describes a network of at least 252706816 parameters, but the file holds only 0 "
     "values"},
    {"config_json", "channel_mult_of_70_levels", "SongUNet: channel_mult has 70 levels (at most 16)"},
    {"config_json", "data_shape_too_short",
     "model config: data shape [3, 32] does not fit the network, which takes [3, 32, 32]"},
    {"fashion_mnist", "gzip_size_hint_claims_4gib",
     "'train-images-idx3-ubyte.gz': corrupt gzip data (incorrect length check)"},
    {"png_folder", "header_claims_16384x16384_rgb",
     "its header claims 16384x16384 pixels, more than 69 bytes can hold"},
};

// The address space this process may grow by while a regression runs (libFuzzer's
// -malloc_limit_mb is 256 per allocation; a few threads' malloc arenas fit in the rest). ASan
// reserves terabytes of shadow memory, so its build replays without the cap and relies on the
// messages alone.
constexpr size_t kReplayHeadroom = size_t{384} << 20;

class AddressSpaceCap {
 public:
  AddressSpaceCap() {
#if !defined(__SANITIZE_ADDRESS__)
    std::ifstream statm("/proc/self/statm");
    size_t pages = 0;
    if (statm >> pages && getrlimit(RLIMIT_AS, &saved_) == 0) {
      rlimit capped = saved_;
      capped.rlim_cur = pages * static_cast<size_t>(sysconf(_SC_PAGESIZE)) + kReplayHeadroom;
      if (saved_.rlim_max != RLIM_INFINITY) capped.rlim_cur = std::min(capped.rlim_cur, saved_.rlim_max);
      active_ = setrlimit(RLIMIT_AS, &capped) == 0;
    }
#endif
  }
  ~AddressSpaceCap() {
    if (active_) setrlimit(RLIMIT_AS, &saved_);
  }
  bool active() const { return active_; }

 private:
  rlimit saved_{};
  bool active_ = false;
};

// The config_json target runs three readers and keeps none of their messages; its regressions
// are model configs, so they go to that reader.
void refuse(const Regression& r, const std::vector<uint8_t>& bytes) {
  if (std::string(r.target) == "config_json") {
    (void)diffusion::ModelConfig::from_json(std::string(bytes.begin(), bytes.end()));
    return;
  }
  for (const NamedTarget& target : all_targets())
    if (r.target == std::string(target.name)) return target.run(bytes.data(), bytes.size());
  FAIL() << "no fuzz target " << r.target;
}

TEST(FuzzRegressions, EachIsRefusedWithItsOwnErrorWithinTheAllocationCap) {
  for (const Regression& r : kRegressions) {
    SCOPED_TRACE(std::string(r.target) + "/" + r.file);
    const std::vector<uint8_t> bytes =
        read_bytes(fs::path(ONESTEP_FUZZ_DIR) / "regressions" / r.target / r.file);
    ASSERT_FALSE(bytes.empty());
    std::string outcome;
    {
      const AddressSpaceCap cap;
      try {
        refuse(r, bytes);
        outcome = "(accepted)";
      } catch (const Error& e) {
        outcome = e.what();
      } catch (const std::bad_alloc&) {
        outcome = "(std::bad_alloc: it tried to allocate beyond the cap)";
      }
    }
    EXPECT_NE(outcome.find(r.error), std::string::npos) << "got: " << outcome;
  }
}

// A regression added without its expected error would be replayed by nothing.
TEST(FuzzRegressions, EveryCommittedRegressionHasItsExpectedError) {
  size_t files = 0;
  for (const NamedTarget& target : all_targets()) {
    for (const fs::path& path : inputs_of("regressions", target.name)) {
      ++files;
      const bool listed = std::any_of(std::begin(kRegressions), std::end(kRegressions),
                                      [&](const Regression& r) {
                                        return r.target == std::string(target.name) &&
                                               path.filename() == r.file;
                                      });
      EXPECT_TRUE(listed) << path << " is not in kRegressions";
    }
  }
  EXPECT_EQ(files, std::size(kRegressions));
}

// The cap works: an allocation past it fails while it is on, and succeeds again after.
TEST(FuzzRegressions, TheCapRefusesALargeAllocation) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan reserves its shadow memory: no address-space cap in this build";
#else
  {
    const AddressSpaceCap cap;
    ASSERT_TRUE(cap.active());
    EXPECT_THROW(std::vector<uint8_t>(size_t{805} << 20, 1), std::bad_alloc);
  }
  EXPECT_NO_THROW(std::vector<uint8_t>(size_t{805} << 20, 1));
#endif
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
