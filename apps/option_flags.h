#pragma once
// A training command's flags, made from its options' table (onestep/run/option_table.h): each
// flag with its help, its range check and its help section; what the given flags set; the flags
// --resume refuses; and library messages that name a setting by its key, reworded with its flag.

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "commands.h"
#include "onestep/run/option_table.h"
#include "onestep/run/run.h"

namespace onestep::app {

template <class Options>
class OptionFlags {
 public:
  // --preset NAME (one of `presets`) and --resume, the flags that say where a run's settings
  // start from, then a flag for each option of `table` that has one.
  OptionFlags(CLI::App& cmd, const run::OptionTable<Options>& table,
              const std::vector<std::string>& presets, const std::string& preset_help)
      : cmd_(cmd), table_(table) {
    cmd.add_option("--preset", preset_, preset_help)
        ->check(member_of(presets))
        ->capture_default_str();
    cmd.add_flag("--resume", resume_, "Continue the run in --out");
    const Options defaults{};
    for (const run::Option<Options>& option : table.options()) {
      if (option.flag.empty()) {
        values_.push_back(nullptr);
        continue;
      }
      auto value = std::make_shared<run::OptionValue>(option.get(defaults));
      values_.push_back(value);
      CLI::Option* flag = std::visit(
          [&](auto& v) -> CLI::Option* {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool>) {
              return cmd.add_flag(option.flag, v, option.help);
            } else if constexpr (std::is_same_v<T, run::JsonText>) {
              throw Error(option.flag + ": a nested JSON setting cannot be a flag");
            } else {
              CLI::Option* added = cmd.add_option(option.flag, v, option.help);
              if constexpr (std::is_same_v<T, std::vector<int64_t>>) added->delimiter(',');
              constexpr bool numeric = !std::is_same_v<T, std::string>;
              const std::string described = option.range.describe();
              if (!described.empty()) added->check(range_validator(option.range, numeric));
              return added;
            }
          },
          *value);
      if (!option.group.empty()) flag->group(option.group);
    }
  }

  bool resume() const { return resume_; }

  // The settings of the run to start or continue: with --resume its config.json (refusing a
  // flag that would change a training setting), else the --preset's (`preset_of(name, given)`,
  // `given` holding the flags on the defaults); then the given flags on top.
  template <class PresetOf, class ReadConfig>
  Options resolve(PresetOf&& preset_of, ReadConfig&& read_config) const {
    Options given;
    apply(given);
    Options o;
    if (resume_) {
      refuse_fixed_on_resume(given.out);
      ONESTEP_USAGE_CHECK(cmd_.count("--out") > 0, "--resume needs --out, the run to continue");
      check_flag("--out",
                 [&] { run::check_run_directory(given.out, true, table_.who().c_str()); });
      o = read_config(given.out);
    } else {
      o = preset_of(preset_, given);
    }
    apply(o);
    return o;
  }

  // The values of the flags given on the command line, set on `o` (in the table's order). A
  // value the option cannot take (an unknown device) is a usage error naming the flag.
  void apply(Options& o) const {
    for (size_t i = 0; i < values_.size(); ++i) {
      const run::Option<Options>& option = table_.options()[i];
      if (!values_[i] || cmd_.count(option.flag) == 0) continue;
      try {
        option.set(o, *values_[i]);
      } catch (const run::OptionError& e) {
        throw UsageError(option.flag + ": " + e.reason());
      }
    }
  }

  // With --resume, config.json decides the training settings: --preset, or a flag that would
  // change one, is refused.
  void refuse_fixed_on_resume(const std::string& out) const {
    std::vector<std::string> fixed = {"--preset"};
    for (const run::Option<Options>& option : table_.options())
      if (!option.flag.empty() && option.on_resume == run::OnResume::fixed)
        fixed.push_back(option.flag);
    for (const std::string& flag : fixed)
      ONESTEP_USAGE_CHECK(
          cmd_.count(flag) == 0,
          "{} cannot be combined with --resume: the settings come from {}/config.json", flag,
          out);
  }

  // "distill: lr_fake must be > 0" -> "distill: --lr-fake must be > 0": the keys of options
  // with flags written as the flags, where a key with an underscore stands as a word anywhere,
  // and any key right after the message's "who: " (a plain word like "data" elsewhere in a
  // message is English, not the setting).
  std::string with_flag_names(const std::string& message) const {
    std::string out = message;
    for (const run::Option<Options>& option : table_.options()) {
      if (option.key.empty() || option.flag.empty()) continue;
      const std::string pattern = option.key.find('_') != std::string::npos
                                      ? "(^|[^-\\w])" + option.key + "(?![\\w-])"
                                      : "^(\\w+: )" + option.key + "(?![\\w'-])";
      out = std::regex_replace(out, std::regex(pattern), "$1" + option.flag);
    }
    // Settings inside a nested one ("channel_mult" of the model) whose flag is the name.
    return app::with_flag_names(cmd_, out);
  }

  // Runs a library check of the options and reports what it finds as a usage error (exit code
  // 2, before any work), with the settings it names written as flags.
  template <class Check>
  void check(Check&& check_options) const {
    check_as_usage(
        [&] {
          try {
            check_options();
          } catch (const run::RunDirectoryInUse& e) {
            throw UsageError(std::string(e.what()) +
                             "; pass --resume to continue it or choose another --out");
          }
        },
        [&](const std::string& message) { return with_flag_names(message); });
  }

  // Runs the training: an error it ends with (a skip limit, a resume that does not match)
  // names settings by their flags too.
  template <class Train>
  auto train(Train&& run_training) const {
    try {
      return run_training();
    } catch (const UsageError&) {
      throw;
    } catch (const Error& e) {
      throw Error(with_flag_names(e.what()));
    }
  }

 private:
  const CLI::App& cmd_;
  const run::OptionTable<Options>& table_;
  std::string preset_ = "toy";
  bool resume_ = false;
  std::vector<std::shared_ptr<run::OptionValue>> values_;  // per option; null without a flag
};

}  // namespace onestep::app
