#pragma once
// An enum's names, as a list of (value, name): how config files and command lines spell its
// values. One list per enum, and these lookups, serve both directions.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace onestep {

template <class Enum>
using EnumNames = std::vector<std::pair<Enum, std::string>>;

// The name of `value`; nullptr when the list has none.
template <class Enum>
const std::string* name_of(const EnumNames<Enum>& names, Enum value) {
  for (const auto& entry : names)
    if (entry.first == value) return &entry.second;
  return nullptr;
}

// The value named `name`, if the list has it.
template <class Enum>
std::optional<Enum> value_named(const EnumNames<Enum>& names, std::string_view name) {
  for (const auto& entry : names)
    if (entry.second == name) return entry.first;
  return std::nullopt;
}

// The names alone, in the list's order.
template <class Enum>
std::vector<std::string> names_in(const EnumNames<Enum>& names) {
  std::vector<std::string> out;
  for (const auto& entry : names) out.push_back(entry.second);
  return out;
}

}  // namespace onestep
