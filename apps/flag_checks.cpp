// Checks of flag values shared by the subcommands (commands.h).

#include <unistd.h>
#include <algorithm>
#include <cctype>

#include <filesystem>

#include "commands.h"
#include "onestep/diffusion/npy.h"
#include "onestep/engine/cuda.h"
#include "option_flags.h"

namespace onestep::app {

CLI::Validator range_validator(const run::OptionRange& range, bool numeric) {
  return CLI::Validator(
      [range, numeric](std::string& text) -> std::string {
        if (!numeric) return range.check(run::OptionValue(text), false);
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "";
        return range.check(run::OptionValue(value), false);
      },
      // What --help shows after the type: "INT:in [1, 65536]", "TEXT:{heun,euler}".
      range.choices.empty() ? range.bounds()
                            : fmt::format("{{{}}}", fmt::join(range.choices, ",")));
}

std::string with_flag_names(const CLI::App& cmd, const std::string& message) {
  std::string out;
  size_t i = 0;
  while (i < message.size()) {
    // Words of letters, digits and underscores; a word with an underscore that names a flag of
    // the command becomes the flag.
    size_t end = i;
    while (end < message.size() &&
           (std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '_'))
      ++end;
    if (end == i) {
      out += message[i++];
      continue;
    }
    std::string word = message.substr(i, end - i);
    if (word.find('_') != std::string::npos && (i == 0 || message[i - 1] != '-')) {
      std::string flag = "--" + word;
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (cmd.get_option_no_throw(flag) != nullptr) word = flag;
    }
    out += word;
    i = end;
  }
  return out;
}

const CLI::Validator kPositive = range_validator(run::positive(), true);
const CLI::Validator kNonNegative = range_validator(run::at_least(0), true);

CLI::Validator in_range(double min, double max) {
  return range_validator(run::between(min, max), true);
}

CLI::Validator member_of(std::vector<std::string> choices) {
  return range_validator(run::one_of(std::move(choices)), false);
}

Tensor read_labels_flag(const std::string& path, int64_t count) {
  const Tensor labels = diffusion::npy_to_tensor(diffusion::read_npy(path));
  ONESTEP_USAGE_CHECK(labels.dtype() == DType::i64 && labels.dim() == 1 && labels.size(0) >= 1 &&
                          (count < 0 || labels.size(0) == count),
                      "--labels {}: expected int64 [{}], got {} {}", path,
                      count < 0 ? std::string("N") : std::to_string(count),
                      dtype_name(labels.dtype()), shape_str(labels.shape()));
  return labels;
}

void check_output_folder(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  ONESTEP_USAGE_CHECK(!path.empty(), "{} is empty", flag);
  ONESTEP_USAGE_CHECK(!fs::exists(path, error) || fs::is_directory(path, error),
                      "{} {}: exists and is not a folder", flag, path);
  // The nearest folder that exists must take a new entry, or the command would do its work and
  // fail when it writes: probe with a folder created and removed at once.
  fs::path existing = fs::absolute(path, error);
  while (existing.has_relative_path() && !fs::exists(existing, error))
    existing = existing.parent_path();
  ONESTEP_USAGE_CHECK(fs::is_directory(existing, error), "{} {}: {} is not a folder", flag, path,
                      existing.string());
  const fs::path probe = existing / fmt::format(".onestep-probe-{}", ::getpid());
  const bool created = fs::create_directory(probe, error);
  ONESTEP_USAGE_CHECK(created, "{} {}: cannot create anything in {} ({})", flag, path,
                      existing.string(), error.message());
  fs::remove(probe, error);
}

namespace {
// `as_given`: the device as the command line wrote it ("cuda" rather than "cuda:0").
void check_usable_device(const Device& device, const std::string& as_given) {
  if (!device.is_cuda()) return;
  ONESTEP_USAGE_CHECK(cuda::compiled(),
                      "--device {}: this onestep was built without CUDA; rebuild with "
                      "-DONESTEP_CUDA=ON or use --device cpu",
                      as_given);
  ONESTEP_USAGE_CHECK(cuda::available(),
                      "--device {}: no usable CUDA device here ({}); use --device cpu", as_given,
                      cuda::unavailable_reason());
}
}  // namespace

Device check_device_flag(const std::string& text) {
  Device device;
  check_flag("--device", [&] { device = parse_device(text); });
  check_usable_device(device, text);
  return device;
}

void check_device_flag(const Device& device) {
  check_usable_device(device, device.str());
}

void add_precision_flag(CLI::App& cmd, std::string& precision) {
  add_checked_option(cmd, "--precision", precision, run::kPrecisionHelp,
                     member_of(names_in(matmul_precision_names())));
}

std::string precision_description(MatmulPrecision precision, const Device& device) {
  if (precision == MatmulPrecision::fp32) return "fp32";
  if (device.is_cuda()) return "bf16 (tensor cores)";
  return cpu_has_bf16_instructions()
             ? "bf16 (AVX512_BF16)"
             : "bf16 (no AVX512_BF16 in this build: same results through float32 multiply-adds, "
               "slower than fp32)";
}

}  // namespace onestep::app
