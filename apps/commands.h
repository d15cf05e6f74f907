#pragma once
// Subcommands of the onestep command. Each registers its flags on the CLI11 app and returns the
// function that runs it once parsing succeeded.

#include <CLI/CLI.hpp>
#include <functional>

#include "onestep/engine/device.h"
#include "onestep/engine/error.h"
#include "onestep/engine/precision.h"
#include "onestep/engine/threading.h"
#include "onestep/run/option_table.h"

namespace onestep::app {

// A bad combination of flags: reported in one line with exit code 2, like CLI11's own errors.
class UsageError : public Error {
 public:
  using Error::Error;
};

#define ONESTEP_USAGE_CHECK(cond, ...)                                       \
  do {                                                                       \
    if (!(cond)) throw ::onestep::app::UsageError(fmt::format(__VA_ARGS__)); \
  } while (0)

// Runs a library check of flag values (it throws onestep::Error) and reports what it finds as a
// usage error, its message passed through `reword`: exit code 2, before any work.
template <class Check, class Reword>
void check_as_usage(Check&& check, const Reword& reword) {
  try {
    check();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(reword(std::string(e.what())));
  }
}

// The library's message as it is.
template <class Check>
void check_flags(Check&& check) {
  check_as_usage(check, [](const std::string& message) { return message; });
}

// The message prefixed with the flag the checked value came from ("--data: unknown dataset
// 'toy:nope' ..."): for library checks that cannot know the flag.
template <class Check>
void check_flag(const std::string& flag, Check&& check) {
  check_as_usage(check, [&](const std::string& message) { return flag + ": " + message; });
}

// Every setting the library's message names (sigma_min) that is a flag of `cmd` (--sigma-min)
// written as the flag.
std::string with_flag_names(const CLI::App& cmd, const std::string& message);
template <class Check>
void check_flags(const CLI::App& cmd, Check&& check) {
  check_as_usage(check, [&](const std::string& message) { return with_flag_names(cmd, message); });
}

// Checks of flag values, worded as the library words its settings' ranges
// (onestep/run/option_table.h): "--batch: must be in [1, 65536], got 0", "--sampler: must be one
// of heun, euler, got 'rk4'". (CLI11's own Range and IsMember say "Value 0 not in range 1 to
// 65536" and "rk4 not in {heun,euler}"; its PositiveNumber prints DBL_MAX in full.)
// CLI11's check of one value (each element of a list) against `range`: "--batch: must be in
// [1, 1048576], got 0". A value that is not a number is left to CLI11's conversion, which says so.
CLI::Validator range_validator(const run::OptionRange& range, bool numeric);
extern const CLI::Validator kPositive;     // > 0
extern const CLI::Validator kNonNegative;  // >= 0
CLI::Validator in_range(double min, double max);
CLI::Validator member_of(std::vector<std::string> choices);

// A flag whose value must pass `check`, with its default shown in --help.
template <class T>
CLI::Option* add_checked_option(CLI::App& cmd, const std::string& flag, T& value,
                                const std::string& help, const CLI::Validator& check) {
  return cmd.add_option(flag, value, help)->check(check)->capture_default_str();
}

// --out of a command that writes a folder: not an existing file.
void check_output_folder(const std::string& flag, const std::string& path);

// --labels FILE.npy: the class of each sample, int64 [count] (any N >= 1 when count is -1), as
// `onestep sample` writes labels.npy; else a usage error naming the file.
Tensor read_labels_flag(const std::string& path, int64_t count);

// --device: a device name this build and machine can run on, else a usage error that names the
// flag and the way out.
Device check_device_flag(const std::string& text);
// The same for a device the settings already hold.
void check_device_flag(const Device& device);

// --precision: fp32 or bf16 operands in convolutions and matrix products
// (onestep/engine/precision.h).
void add_precision_flag(CLI::App& cmd, std::string& precision);

// The header line's precision, and for bf16 how this build computes it.
std::string precision_description(MatmulPrecision precision, const Device& device);

// ", bf16 (how)" for a header line under --precision bf16; nothing for fp32.
inline std::string precision_suffix(MatmulPrecision precision, const Device& device) {
  return precision == MatmulPrecision::fp32 ? "" : ", " + precision_description(precision, device);
}

// The header line's "where": the CPU thread count, or the CUDA device.
inline std::string device_description(const std::string& device) {
  return device == "cpu" ? fmt::format("{} threads", num_threads()) : device;
}

using Run = std::function<int()>;

Run add_teacher_command(CLI::App& app);
Run add_sample_command(CLI::App& app);
Run add_distill_command(CLI::App& app);
Run add_eval_command(CLI::App& app);
Run add_bench_command(CLI::App& app);

}  // namespace onestep::app
