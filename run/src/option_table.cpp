#include "onestep/run/option_table.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace onestep::run {

using nlohmann::json;

namespace {

// 1e-12, 0.999, 1048576, 1000000000: what a user would type.
std::string number_text(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15)
    return fmt::format("{}", static_cast<int64_t>(value));
  return fmt::format("{}", value);
}

std::string value_text(const OptionValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, JsonText>) {
          return v.text;
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          return fmt::format("{}", fmt::join(v, ","));
        } else if constexpr (std::is_same_v<T, std::string>) {
          return "'" + v + "'";
        } else if constexpr (std::is_same_v<T, double>) {
          return number_text(v);
        } else {
          return fmt::format("{}", v);
        }
      },
      value);
}

}  // namespace

std::string OptionRange::bounds() const {
  if (!choices.empty()) return fmt::format("one of {}", fmt::join(choices, ", "));
  const bool low = std::isfinite(min), high = std::isfinite(max);
  if (low && high && !min_exclusive)
    return fmt::format("in [{}, {}]", number_text(min), number_text(max));
  if (low && high) return fmt::format("in ({}, {}]", number_text(min), number_text(max));
  if (low) return fmt::format("{} {}", min_exclusive ? ">" : ">=", number_text(min));
  if (high) return fmt::format("<= {}", number_text(max));
  return "";
}

std::string OptionRange::describe() const {
  const std::string text = bounds();
  return text.empty() ? text : "must be " + text;
}

std::string OptionRange::check(const OptionValue& value, bool allow_unset) const {
  const auto in_range = [&](double x) {
    if (allow_unset && unset && x == *unset) return true;
    if (std::isnan(x) || x > max) return false;
    return min_exclusive ? x > min : x >= min;
  };
  const bool numbers = std::isfinite(min) || std::isfinite(max);
  bool ok = true;
  if (const auto* s = std::get_if<std::string>(&value)) {
    ok = choices.empty() || std::find(choices.begin(), choices.end(), *s) != choices.end();
  } else if (const auto* list = std::get_if<std::vector<int64_t>>(&value)) {
    for (int64_t x : *list) ok = ok && (!numbers || in_range(static_cast<double>(x)));
  } else if (const auto* d = std::get_if<double>(&value)) {
    // A real-valued setting is never infinite or NaN, whatever its range.
    ok = std::isfinite(*d) && (!numbers || in_range(*d));
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    ok = !numbers || in_range(static_cast<double>(*i));
  } else if (const auto* u = std::get_if<uint64_t>(&value)) {
    ok = !numbers || in_range(static_cast<double>(*u));
  }
  if (ok) return "";
  const std::string what = describe();
  return fmt::format("{}, got {}", what.empty() ? "must be finite" : what, value_text(value));
}

OptionRange positive() {
  OptionRange r;
  r.min = 0;
  r.min_exclusive = true;
  return r;
}

OptionRange at_least(double min) {
  OptionRange r;
  r.min = min;
  return r;
}

OptionRange between(double min, double max) {
  OptionRange r;
  r.min = min;
  r.max = max;
  return r;
}

OptionRange positive_up_to(double max) {
  OptionRange r = positive();
  r.max = max;
  return r;
}

OptionRange one_of(std::vector<std::string> choices) {
  OptionRange r;
  r.choices = std::move(choices);
  return r;
}

OptionValue parse_option_value(const std::string& name, const std::string& text,
                               const OptionValue& like) {
  const auto fail = [&]() -> OptionValue {
    ONESTEP_FAIL("setting {}: '{}' is not {}", name, text,
                 std::visit(
                     [](const auto& v) -> const char* {
                       using T = std::decay_t<decltype(v)>;
                       if constexpr (std::is_same_v<T, bool>) return "true or false";
                       if constexpr (std::is_same_v<T, double>) return "a number";
                       if constexpr (std::is_same_v<T, std::vector<int64_t>>)
                         return "comma-separated integers";
                       if constexpr (std::is_same_v<T, JsonText>) return "a setting of its own";
                       return "an integer";
                     },
                     like));
  };
  // Whole-text conversions: "12abc" is not 12.
  const auto to_integer = [&](const std::string& word, auto& out) {
    size_t used = 0;
    try {
      if constexpr (std::is_same_v<std::decay_t<decltype(out)>, uint64_t>) {
        if (!word.empty() && word[0] == '-') return false;
        out = std::stoull(word, &used);
      } else {
        out = std::stoll(word, &used);
      }
    } catch (const std::exception&) {
      return false;
    }
    return used == word.size();
  };
  return std::visit(
      [&](const auto& v) -> OptionValue {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          if (text == "true" || text == "false") return OptionValue(text == "true");
          return fail();
        } else if constexpr (std::is_same_v<T, std::string>) {
          return OptionValue(text);
        } else if constexpr (std::is_same_v<T, double>) {
          size_t used = 0;
          double value = 0;
          try {
            value = std::stod(text, &used);
          } catch (const std::exception&) {
            return fail();
          }
          return used == text.size() ? OptionValue(value) : fail();
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          std::vector<int64_t> values;
          size_t start = 0;
          while (start <= text.size()) {
            const size_t comma = std::min(text.find(',', start), text.size());
            int64_t value = 0;
            if (!to_integer(text.substr(start, comma - start), value)) return fail();
            values.push_back(value);
            start = comma + 1;
          }
          return OptionValue(values);
        } else if constexpr (std::is_same_v<T, JsonText>) {
          return fail();
        } else {
          T value = 0;
          return to_integer(text, value) ? OptionValue(value) : fail();
        }
      },
      like);
}

std::vector<std::pair<std::string, std::string>> split_settings(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> settings;
  size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    const std::string word = text.substr(i, end - i);
    const size_t equals = word.find('=');
    ONESTEP_CHECK(equals != std::string::npos && equals > 0,
                  "settings: '{}' is not name=value", word);
    settings.emplace_back(word.substr(0, equals), word.substr(equals + 1));
    i = end;
  }
  return settings;
}

std::vector<std::string> preset_names(const std::vector<Preset>& presets) {
  std::vector<std::string> names;
  for (const Preset& preset : presets) names.push_back(preset.name);
  return names;
}

const Preset& find_preset(const std::vector<Preset>& presets, const std::string& name) {
  for (const Preset& preset : presets)
    if (preset.name == name) return preset;
  ONESTEP_FAIL("unknown preset '{}': expected one of {}", name,
               fmt::join(preset_names(presets), ", "));
}

std::string options_json(const std::vector<std::pair<std::string, OptionValue>>& values) {
  json j = json::object();
  for (const auto& [key, value] : values) {
    std::visit(
        [&, &key = key](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, JsonText>) {
            j[key] = json::parse(v.text);
          } else {
            j[key] = v;
          }
        },
        value);
  }
  return j.dump(2);
}

void read_options_json(const std::string& text, const std::string& who,
                       std::vector<std::pair<std::string, OptionValue>>& values,
                       std::vector<bool>& found) {
  found.assign(values.size(), false);
  try {
    const json j = json::parse(text);
    ONESTEP_CHECK(j.is_object(), "{}: expected a JSON object", who);
    for (size_t i = 0; i < values.size(); ++i) {
      auto& [key, value] = values[i];
      if (!j.contains(key)) continue;
      const json& entry = j.at(key);
      std::visit(
          [&](auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, JsonText>) {
              v.text = entry.dump();
            } else {
              entry.get_to(v);
            }
          },
          value);
      found[i] = true;
    }
  } catch (const json::exception& e) {
    ONESTEP_FAIL("{}: {}", who, e.what());
  }
}

}  // namespace onestep::run
