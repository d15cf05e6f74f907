// The option tables (onestep/run/option_table.h): the generic machinery on a small settings
// struct, and the teacher's and distillation's tables, whose config.json keys must stay those
// that runs already on disk hold.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "onestep/diffusion/teacher.h"
#include "onestep/distill/distill.h"
#include "onestep/run/option_table.h"

namespace onestep::run {
namespace {

struct Settings {
  int64_t batch = 8;
  double lr = 0.5;
  double weight = -1;  // -1: not set
  std::string mode = "a";
  std::vector<int64_t> levels = {1, 2};
  bool flip = false;
  uint64_t seed = 3;
  struct {
    double p_std = 1.2;
  } loss;
};

OptionTable<Settings> settings_table() {
  OptionTable<Settings> t("settings");
  t.add("batch", "--batch", "", ONESTEP_OPTION_MEMBER(batch)).allow(between(1, 64));
  t.add("lr", "--lr", "", ONESTEP_OPTION_MEMBER(lr)).allow(positive());
  t.add("weight", "--weight", "", ONESTEP_OPTION_MEMBER(weight)).allow(at_least(0).or_unset(-1));
  t.add("mode", "--mode", "", ONESTEP_OPTION_MEMBER(mode)).allow(one_of({"a", "b"}));
  t.add("levels", "--levels", "", ONESTEP_OPTION_MEMBER(levels)).allow(between(1, 4));
  t.add("flip", "--flip", "", ONESTEP_OPTION_MEMBER(flip));
  t.add("seed", "--seed", "", ONESTEP_OPTION_MEMBER(seed));
  t.add("p_std", "--p-std", "", ONESTEP_OPTION_MEMBER(loss.p_std)).allow(at_least(0));
  t.add("", "--both", "", ONESTEP_OPTION_MEMBER(lr));  // a flag that is not saved
  return t;
}

TEST(OptionTable, JsonRoundTripKeepsEveryValueAndSavesOnlyKeyedOptions) {
  const OptionTable<Settings> table = settings_table();
  Settings s;
  s.batch = 33;
  s.lr = 1e-7;
  s.weight = 2.5;
  s.mode = "b";
  s.levels = {4, 1, 3};
  s.flip = true;
  s.seed = 18446744073709551615ull;  // uint64 max survives JSON
  s.loss.p_std = 0.25;
  const std::string text = table.to_json(s);
  EXPECT_EQ(text.find("both"), std::string::npos);
  Settings back;
  const std::vector<std::string> keys = table.read_json(text, back);
  EXPECT_EQ(keys.size(), 8u);
  EXPECT_EQ(back.batch, 33);
  EXPECT_EQ(back.lr, 1e-7);
  EXPECT_EQ(back.weight, 2.5);
  EXPECT_EQ(back.mode, "b");
  EXPECT_EQ(back.levels, (std::vector<int64_t>{4, 1, 3}));
  EXPECT_TRUE(back.flip);
  EXPECT_EQ(back.seed, 18446744073709551615ull);
  EXPECT_EQ(back.loss.p_std, 0.25);
}

TEST(OptionTable, MissingKeysKeepTheirValuesAndWrongTypesAreErrors) {
  const OptionTable<Settings> table = settings_table();
  Settings s;
  EXPECT_EQ(table.read_json(R"({"batch": 5})", s), std::vector<std::string>{"batch"});
  EXPECT_EQ(s.batch, 5);
  EXPECT_EQ(s.lr, 0.5);
  try {
    table.read_json(R"({"batch": "five"})", s);
    FAIL() << "a string for an integer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("settings config"), std::string::npos) << e.what();
  }
  EXPECT_THROW(table.read_json("[1, 2]", s), Error);
  EXPECT_THROW(table.read_json("{\"batch\": ", s), Error);
}

// Each range refuses the value just outside it with an OptionError that names the key.
TEST(OptionTable, RangesRefuseValuesOutsideThemNamingTheKey) {
  const OptionTable<Settings> table = settings_table();
  const auto refused = [&](Settings s, const std::string& key, const std::string& reason) {
    try {
      table.check_ranges(s);
      ADD_FAILURE() << key << " out of range was accepted";
    } catch (const OptionError& e) {
      EXPECT_EQ(e.key(), key);
      EXPECT_EQ(e.reason(), reason);
      EXPECT_EQ(std::string(e.what()), "settings: " + key + " " + reason);
    }
  };
  table.check_ranges(Settings{});  // the defaults, with weight unset (-1)
  Settings s;
  s.batch = 0;
  refused(s, "batch", "must be in [1, 64], got 0");
  s = Settings{};
  s.batch = 65;
  refused(s, "batch", "must be in [1, 64], got 65");
  s = Settings{};
  s.lr = 0;
  refused(s, "lr", "must be > 0, got 0");
  s = Settings{};
  s.lr = NAN;
  refused(s, "lr", "must be > 0, got nan");
  s = Settings{};
  s.weight = -0.5;
  refused(s, "weight", "must be >= 0, got -0.5");
  s = Settings{};
  s.mode = "c";
  refused(s, "mode", "must be one of a, b, got 'c'");
  s = Settings{};
  s.levels = {1, 5};
  refused(s, "levels", "must be in [1, 4], got 1,5");
  s = Settings{};
  s.loss.p_std = INFINITY;
  refused(s, "p_std", "must be >= 0, got inf");
}

TEST(OptionRange, UnsetMarkerIsForConfigsOnly) {
  const OptionRange r = at_least(0).or_unset(-1);
  EXPECT_EQ(r.check(OptionValue(-1.0)), "");
  EXPECT_EQ(r.check(OptionValue(-1.0), /*allow_unset=*/false), "must be >= 0, got -1");
  EXPECT_EQ(r.check(OptionValue(-2.0)), "must be >= 0, got -2");
  EXPECT_EQ(positive_up_to(1).describe(), "must be in (0, 1]");
  EXPECT_EQ(between(1e-12, 1048576).describe(), "must be in [1e-12, 1048576]");
  EXPECT_EQ(OptionRange{}.describe(), "");
  // Without a range a real number must still be finite.
  EXPECT_EQ(OptionRange{}.check(OptionValue(std::nan(""))), "must be finite, got nan");
}

TEST(OptionTable, SettingsTextSetsOptionsByKeyOrFlag) {
  const OptionTable<Settings> table = settings_table();
  Settings s;
  table.apply_settings("batch=12  lr=2e-3 levels=3,1 flip=true mode=b seed=7 both=0.25", s);
  EXPECT_EQ(s.batch, 12);
  EXPECT_EQ(s.levels, (std::vector<int64_t>{3, 1}));
  EXPECT_TRUE(s.flip);
  EXPECT_EQ(s.mode, "b");
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.lr, 0.25);  // "both" (a flag's name) after "lr": the later one wins
  const auto error = [&](const std::string& text) {
    Settings t;
    try {
      table.apply_settings(text, t);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error("bach=12"), "settings settings: no setting named 'bach'");
  EXPECT_EQ(error("batch=12x"), "setting batch: '12x' is not an integer");
  EXPECT_EQ(error("seed=-1"), "setting seed: '-1' is not an integer");
  EXPECT_EQ(error("lr=fast"), "setting lr: 'fast' is not a number");
  EXPECT_EQ(error("flip=yes"), "setting flip: 'yes' is not true or false");
  EXPECT_EQ(error("levels=1,,2"), "setting levels: '1,,2' is not comma-separated integers");
  EXPECT_EQ(error("batch"), "settings: 'batch' is not name=value");
}

// Named settings are enums in the options and their names in config.json, converted once by the
// table: an unknown name in a config is refused naming the key and the choices.
TEST(DistillOptionTable, NamedSettingsAreEnumsWrittenAsTheirNames) {
  distill::DistillOptions o = distill::distill_preset("toy", "sid");
  o.fake_sigma = distill::SigmaSampling::lognormal;
  o.discriminator_head = distill::DiscriminatorLogit::learned;
  o.discriminator_sigma_weighting = distill::SigmaWeighting::lambda;
  const std::string text = o.to_json();
  EXPECT_NE(text.find("\"fake_sigma\": \"lognormal\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"discriminator_head\": \"learned\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"discriminator_sigma_weighting\": \"lambda\""), std::string::npos);
  const distill::DistillOptions back = distill::DistillOptions::from_json(text);
  EXPECT_EQ(back.fake_sigma, distill::SigmaSampling::lognormal);
  EXPECT_EQ(back.discriminator_sigma, distill::SigmaSampling::grid);
  EXPECT_EQ(back.discriminator_head, distill::DiscriminatorLogit::learned);
  std::string bad = text;
  bad.replace(bad.find("\"lognormal\""), 11, "\"uniform\"");
  try {
    distill::DistillOptions::from_json(bad);
    FAIL() << "an unknown fake_sigma was accepted";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.key(), "fake_sigma");
    EXPECT_EQ(e.reason(), "must be one of grid, lognormal, got 'uniform'");
  }
}

// The keys config.json held before the options were tables: every run on disk must load, and a
// new run must write the same file.
const std::set<std::string> kTeacherKeys = {
    "preset", "data", "hflip", "cond", "model", "batch", "total_images", "lr", "lr_warmup_images",
    "beta1", "beta2", "adam_eps", "ema_halflife_images", "ema_rampup", "grad_clip", "p_mean",
    "p_std", "log_every_images", "checkpoint_every_images", "max_consecutive_skips",
    "preview_samples", "preview_steps", "seed", "device", "precision", "out"};
const std::set<std::string> kDistillKeys = {
    "preset", "teacher", "data", "method", "divergence", "alpha", "sid_alpha", "sim_c",
    "ratio_gradient", "gan_weight", "fake_steps", "regression", "normalise_ratio", "gan_over_nu",
    "sigma_init", "batch", "total_images", "lr_generator", "lr_fake", "lr_discriminator_head",
    "beta1", "beta2", "adam_eps", "ema_halflife_images", "ema_rampup", "fake_grad_clip",
    "generator_warmup_images", "sim_only_images", "sigma_min", "sigma_max", "rho", "u_max",
    "fake_sigma", "discriminator_sigma", "discriminator_head", "fake_p_mean", "fake_p_std",
    "score_scale", "discriminator_weight", "discriminator_sigma_weighting", "regression_pairs",
    "regression_steps", "log_every_images", "checkpoint_every_images", "eval_every_images",
    "eval_samples", "eval_features", "max_consecutive_skips", "preview_samples", "seed", "device",
    "precision", "out"};

template <class Options>
void expect_table_well_formed(const OptionTable<Options>& table, const std::set<std::string>& keys) {
  std::set<std::string> saved, flags;
  for (const Option<Options>& option : table.options()) {
    EXPECT_FALSE(option.key.empty() && option.flag.empty()) << "an option with neither";
    if (!option.key.empty()) EXPECT_TRUE(saved.insert(option.key).second) << option.key;
    if (!option.flag.empty()) {
      EXPECT_TRUE(flags.insert(option.flag).second) << option.flag;
      EXPECT_EQ(option.flag.rfind("--", 0), 0u) << option.flag;
      EXPECT_FALSE(option.help.empty()) << option.flag << " has no help";
    }
  }
  EXPECT_EQ(saved, keys);
}

// Every option of a run's options with a finite lower bound refuses the value below it (or the
// bound itself when excluded), starting from a preset's valid settings: a range written in the
// table is a range validate() enforces.
template <class Options>
void expect_validate_enforces_every_range(const OptionTable<Options>& table, const Options& valid) {
  valid.validate();
  int checked = 0;
  for (const Option<Options>& option : table.options()) {
    if (option.key.empty() || !std::isfinite(option.range.min)) continue;
    OptionValue below = option.get(valid);
    // Below the range, and not the marker for "unset" that a range may allow.
    const double step = option.range.unset == option.range.min - 1 ? 2 : 1;
    if (auto* i = std::get_if<int64_t>(&below)) {
      *i = static_cast<int64_t>(option.range.min_exclusive ? option.range.min
                                                           : option.range.min - step);
    } else if (auto* d = std::get_if<double>(&below)) {
      *d = option.range.min_exclusive ? option.range.min : option.range.min - step / 4;
    } else {
      continue;  // unsigned (never below 0) and lists without saved keys
    }
    Options o = valid;
    option.set(o, below);
    try {
      o.validate();
      ADD_FAILURE() << option.key << " below its range was accepted";
    } catch (const OptionError& e) {
      EXPECT_EQ(e.key(), option.key);
    } catch (const Error& e) {
      ADD_FAILURE() << option.key << ": not an OptionError: " << e.what();
    }
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

TEST(TeacherOptionTable, KeysFlagsAndRanges) {
  expect_table_well_formed(diffusion::teacher_option_table(), kTeacherKeys);
  expect_validate_enforces_every_range(diffusion::teacher_option_table(),
                                       diffusion::teacher_preset("toy"));
}

TEST(DistillOptionTable, KeysFlagsAndRanges) {
  expect_table_well_formed(distill::distill_option_table(), kDistillKeys);
  expect_validate_enforces_every_range(distill::distill_option_table(),
                                       distill::distill_preset("toy"));
}

TEST(TeacherOptionTable, ConfigRoundTripsThroughJson) {
  for (const std::string& preset : diffusion::teacher_preset_names()) {
    diffusion::TeacherOptions o = diffusion::teacher_preset(preset);
    o.lr = 3e-4;
    o.cond = true;
    o.model.unet.channel_mult = {1, 3};
    const std::string text = o.to_json();
    EXPECT_EQ(diffusion::TeacherOptions::from_json(text).to_json(), text) << preset;
  }
}

TEST(DistillOptionTable, ConfigRoundTripsThroughJsonAndReadsTheOldRegressionKey) {
  for (const std::string& preset : distill::distill_preset_names()) {
    distill::DistillOptions o = distill::distill_preset(preset, "dmd");
    o.method_options.gan_weight = 0.5;
    const std::string text = o.to_json();
    EXPECT_EQ(distill::DistillOptions::from_json(text).to_json(), text) << preset;
  }
  // Before the regression term applied to every method, DMD's weight was "regression_weight".
  std::string old = distill::distill_preset("toy", "dmd").to_json();
  old.replace(old.find("\"regression\""), 12, "\"regression_weight\"");
  std::string replaced = old;
  const size_t at = replaced.find("\"regression_weight\"");
  const size_t value = replaced.find(':', at) + 2;
  replaced.replace(value, replaced.find_first_of(",\n", value) - value, "0.75");
  EXPECT_EQ(distill::DistillOptions::from_json(replaced).method_options.regression_weight, 0.75);
}

}  // namespace
}  // namespace onestep::run
