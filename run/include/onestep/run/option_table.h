#pragma once
// A training run's settings, each described once: its config.json key, its command-line flag,
// its help text, its range and whether --resume may change it. From that one description come
// config.json (to_json, from_json), the range checks of validate(), the presets (settings text,
// apply_settings), and, in apps/, the command's flags with their checks and the list of flags
// --resume refuses. Checks that relate several settings stay in validate().

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "onestep/engine/device.h"
#include "onestep/engine/enum_names.h"
#include "onestep/engine/error.h"
#include "onestep/engine/precision.h"
#include "onestep/run/nonfinite_steps.h"

// The member `path` of a settings struct, for OptionTable::add: ONESTEP_OPTION_MEMBER(loss.p_std).
#define ONESTEP_OPTION_MEMBER(path) \
  [](auto& options) -> auto& {      \
    return options.path;            \
  }

namespace onestep::run {

// A nested JSON value (a network's config) written into config.json as JSON, not as a string.
struct JsonText {
  std::string text;
};

using OptionValue =
    std::variant<bool, int64_t, uint64_t, double, std::string, std::vector<int64_t>, JsonText>;

// The values an option accepts: numbers in [min, max] (min itself excluded when min_exclusive;
// each element of a list), strings among `choices` (any when empty).
struct OptionRange {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
  std::vector<std::string> choices;
  // A value outside the range that config.json may hold to mean "not set: the default applies"
  // (-1 for a weight whose default depends on the method); a flag never takes it, since leaving
  // the flag out says the same.
  std::optional<double> unset;

  // "> 0", "in [1, 1048576]", "one of grid, lognormal"; empty: any value.
  std::string bounds() const;
  // "must be " and bounds(); empty: any value.
  std::string describe() const;
  // Empty when `value` is allowed, else describe() and the value ("must be > 0, got -1").
  std::string check(const OptionValue& value, bool allow_unset = true) const;
  OptionRange& or_unset(double value) { return unset = value, *this; }
};

OptionRange positive();                       // > 0
OptionRange at_least(double min);             // >= min
OptionRange between(double min, double max);  // [min, max]
OptionRange positive_up_to(double max);       // (0, max]
OptionRange one_of(std::vector<std::string> choices);

// A setting the command line refuses with --resume, because config.json decides it.
enum class OnResume { fixed, may_change };

template <class Options>
struct Option {
  std::string key;   // config.json key; empty: not saved (a flag that sets other options)
  std::string flag;  // "--batch"; empty: config.json only
  std::string help;
  OnResume on_resume = OnResume::fixed;
  OptionRange range;
  std::string group;  // the help section; empty: the command's options
  std::function<OptionValue(const Options&)> get;
  std::function<void(Options&, const OptionValue&)> set;

  Option& may_change() { return on_resume = OnResume::may_change, *this; }
  Option& allow(OptionRange r) { return range = std::move(r), *this; }
  Option& in_group(std::string g) { return group = std::move(g), *this; }
};

// config.json from (key, value) pairs, and the values of the keys a text holds: the part of the
// table that needs JSON, kept out of this header.
std::string options_json(const std::vector<std::pair<std::string, OptionValue>>& values);
// For each (key, value) whose key `text` holds, value is replaced by the text's (of value's
// type), and `found` set; an error (prefixed with `who`) when the text does not parse or a value
// has the wrong type.
void read_options_json(const std::string& text, const std::string& who,
                       std::vector<std::pair<std::string, OptionValue>>& values,
                       std::vector<bool>& found);

// A setting out of its range, with the key of the option (which a command turns into its flag).
class OptionError : public Error {
 public:
  OptionError(const std::string& who, std::string key, const std::string& reason)
      : Error(who + ": " + key + " " + reason), key_(std::move(key)), reason_(reason) {}
  const std::string& key() const { return key_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string key_, reason_;
};

// `text` as a value of the type of `like` (true/false, integers, reals, text, comma-separated
// integers); an error that names `name` when it is not one.
OptionValue parse_option_value(const std::string& name, const std::string& text,
                               const OptionValue& like);
// The "name=value" words of `text` (separated by white space), in order.
std::vector<std::pair<std::string, std::string>> split_settings(const std::string& text);

template <class Options>
class OptionTable {
 public:
  explicit OptionTable(std::string who) : who_(std::move(who)) {}

  // An option backed by one member: `field` returns a reference to it from an Options& or a
  // const Options& (ONESTEP_OPTION_MEMBER).
  template <class Field>
  Option<Options>& add(std::string key, std::string flag, std::string help, Field field) {
    using T = std::remove_reference_t<decltype(field(std::declval<Options&>()))>;
    return add_custom(
        std::move(key), std::move(flag), std::move(help),
        [field](const Options& o) { return OptionValue(T(field(o))); },
        [field](Options& o, const OptionValue& v) { field(o) = std::get<T>(v); });
  }
  // An option whose member is an enum with the given names: written and read as the name (in
  // config.json and on the command line), and allowed only those names.
  template <class Field, class Enum>
  Option<Options>& add_enum(std::string key, std::string flag, std::string help, Field field,
                            EnumNames<Enum> names) {
    const OptionRange range = one_of(names_in(names));
    const std::string what = key.empty() ? flag : key;
    const std::string who = who_;
    Option<Options>& option = add_custom(
        std::move(key), std::move(flag), std::move(help),
        [field, names](const Options& o) {
          const std::string* name = name_of(names, field(o));
          return OptionValue(name ? *name : std::string("?"));
        },
        [field, names, what, who, range](Options& o, const OptionValue& v) {
          const std::optional<Enum> value = value_named(names, std::get<std::string>(v));
          if (!value) throw OptionError(who, what, range.check(v));
          field(o) = *value;
        });
    option.range = range;
    return option;
  }
  // An option with its own reading and writing (one flag that sets two members, a nested
  // config written as JSON).
  Option<Options>& add_custom(std::string key, std::string flag, std::string help,
                              std::function<OptionValue(const Options&)> get,
                              std::function<void(Options&, const OptionValue&)> set) {
    Option<Options> option;
    option.key = std::move(key);
    option.flag = std::move(flag);
    option.help = std::move(help);
    option.get = std::move(get);
    option.set = std::move(set);
    options_.push_back(std::move(option));
    return options_.back();
  }

  const std::string& who() const { return who_; }
  const std::vector<Option<Options>>& options() const { return options_; }
  const Option<Options>* find_key(const std::string& key) const {
    for (const Option<Options>& option : options_)
      if (option.key == key) return &option;
    return nullptr;
  }

  std::string to_json(const Options& o) const {
    std::vector<std::pair<std::string, OptionValue>> values;
    for (const Option<Options>& option : options_)
      if (!option.key.empty()) values.emplace_back(option.key, option.get(o));
    return options_json(values);
  }
  // The keys `text` holds replace the values in `o`; missing keys keep them, so configs written
  // before an option existed still load. Returns the keys found.
  std::vector<std::string> read_json(const std::string& text, Options& o) const {
    std::vector<std::pair<std::string, OptionValue>> values;
    std::vector<const Option<Options>*> saved;
    for (const Option<Options>& option : options_) {
      if (option.key.empty()) continue;
      values.emplace_back(option.key, option.get(o));
      saved.push_back(&option);
    }
    std::vector<bool> found;
    read_options_json(text, who_ + " config", values, found);
    std::vector<std::string> keys;
    for (size_t i = 0; i < values.size(); ++i) {
      if (!found[i]) continue;
      saved[i]->set(o, values[i].second);
      keys.push_back(values[i].first);
    }
    return keys;
  }
  // Sets the options `settings` names, "batch=512 lr=2e-3 channel-mult=1,2,2" (each named by its
  // key, or by its flag without the dashes): how a preset is written. An unknown name or a value
  // of the wrong type is an error.
  void apply_settings(const std::string& settings, Options& o) const {
    for (const auto& [name, text] : split_settings(settings)) {
      const Option<Options>* found = find_key(name);
      if (found == nullptr)
        for (const Option<Options>& option : options_)
          if (option.flag == "--" + name) found = &option;
      if (found == nullptr) throw Error(who_ + " settings: no setting named '" + name + "'");
      found->set(o, parse_option_value(name, text, found->get(o)));
    }
  }
  // Every saved option within its range; else an OptionError naming the option by its key
  // ("distill: lr_fake must be > 0, got -1").
  void check_ranges(const Options& o) const;

 private:
  std::string who_;
  std::vector<Option<Options>> options_;
};

// A named starting point of a run's settings (--preset): the settings it changes from the
// defaults, as OptionTable::apply_settings reads them, and for some methods a recipe on top.
struct Preset {
  std::string name;
  std::string settings;
  std::string recipe;  // applied after `settings` where the run says (empty: none)
};
std::vector<std::string> preset_names(const std::vector<Preset>& presets);
// The preset called `name`; an error listing the names when there is none.
const Preset& find_preset(const std::vector<Preset>& presets, const std::string& name);

// What the settings of every training run hold besides what it trains; add_run_options describes
// them. A run's options (TeacherOptions, DistillOptions) derive from it.
struct RunSettings {
  explicit RunSettings(std::string default_out) : out(std::move(default_out)) {}

  std::string preset;  // the name of the preset the settings started from, if any

  int64_t log_every_images = 10000;
  int64_t checkpoint_every_images = 0;  // 0: only at the end (and on a stop signal)
  // Non-finite steps in a row before giving up; the run then saves the parameters of its last
  // good step (when finite) and stops with an error.
  int64_t max_consecutive_skips = 50;
  int64_t preview_samples = 64;  // 0: no preview
  uint64_t seed = 0;
  // Where the networks run (cpu, cuda, cuda:N); a run may resume on another device.
  Device device = Device::cpu();
  // Operands of convolutions and matrix products: fp32 or bf16 (onestep/engine/precision.h); a
  // run may resume in the other.
  MatmulPrecision precision = MatmulPrecision::fp32;
  std::string out;  // the run directory
  // Debug: steps whose loss or gradients are made non-finite on purpose (not saved in
  // config.json).
  NanInjection inject_nan;
};

// The help of --precision (onestep/engine/precision.h); the commands that sample share it.
inline constexpr const char* kPrecisionHelp =
    "Operands of convolutions and matrix products: fp32, or bf16 (rounded to bfloat16, summed in "
    "float32; parameters, optimizer state and everything else stay float32)";

// The options every training run has, whatever it trains: where it runs and writes, its seed,
// its intervals, its stop after skipped steps, and the debug injection of non-finite steps.
// `step` names a step in the help ("step", "iteration").
template <class Options>
void add_run_options(OptionTable<Options>& t, const std::string& step) {
  t.add("preset", "", "The preset the settings started from", ONESTEP_OPTION_MEMBER(preset));
  t.add("out", "--out", "Run directory (default from the preset)", ONESTEP_OPTION_MEMBER(out))
      .may_change();
  t.add("seed", "--seed", "Random seed", ONESTEP_OPTION_MEMBER(seed)).allow(at_least(0));
  const std::string who = t.who();
  t.add_custom(
       "device", "--device", "Where the networks run: cpu, cuda or cuda:N",
       [](const Options& o) { return OptionValue(o.device.str()); },
       [who](Options& o, const OptionValue& v) {
         const std::string& text = std::get<std::string>(v);
         try {
           o.device = parse_device(text);
         } catch (const Error& e) {
           throw OptionError(who, "device", e.what());
         }
       })
      .may_change();
  t.add_enum("precision", "--precision", kPrecisionHelp, ONESTEP_OPTION_MEMBER(precision),
             matmul_precision_names())
      .may_change();
  t.add("log_every_images", "--log-every", "Log interval, images",
        ONESTEP_OPTION_MEMBER(log_every_images))
      .allow(at_least(1))
      .may_change();
  t.add("checkpoint_every_images", "--checkpoint-every",
        "Checkpoint interval, images (0: end only)", ONESTEP_OPTION_MEMBER(checkpoint_every_images))
      .allow(at_least(0))
      .may_change();
  t.add("preview_samples", "--preview", "Samples in the final preview (0: none)",
        ONESTEP_OPTION_MEMBER(preview_samples))
      .allow(between(0, 1000000));
  t.add("max_consecutive_skips", "--max-consecutive-skips",
        "Skipped (non-finite) " + step + "s in a row before the run stops",
        ONESTEP_OPTION_MEMBER(max_consecutive_skips))
      .allow(between(1, 1e9))
      .may_change();
  t.add("", "--inject-nan-at",
        "Debug: treat the loss of these " + step + "s (1, 2, ...) as NaN, e.g. 5,6",
        ONESTEP_OPTION_MEMBER(inject_nan.loss_steps))
      .allow(at_least(1))
      .may_change()
      .in_group("Debugging");
  t.add("", "--inject-nan-grad-at", "Debug: make the gradients of these " + step + "s NaN",
        ONESTEP_OPTION_MEMBER(inject_nan.grad_steps))
      .allow(at_least(1))
      .may_change()
      .in_group("Debugging");
}

template <class Options>
void OptionTable<Options>::check_ranges(const Options& o) const {
  for (const Option<Options>& option : options_) {
    if (option.key.empty()) continue;
    const std::string problem = option.range.check(option.get(o));
    if (!problem.empty()) throw OptionError(who_, option.key, problem);
  }
}

}  // namespace onestep::run
