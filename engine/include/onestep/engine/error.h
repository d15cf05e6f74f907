#pragma once
// onestep::Error and ONESTEP_CHECK: every failure on user input throws, never aborts.

#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace onestep {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
[[noreturn]] void throw_error(const std::string& message);
}  // namespace detail

}  // namespace onestep

// ONESTEP_CHECK(cond, "op: expected {} got {}", a, b): throws onestep::Error with the message.
#define ONESTEP_CHECK(cond, ...)                                           \
  do {                                                                     \
    if (!(cond)) ::onestep::detail::throw_error(fmt::format(__VA_ARGS__)); \
  } while (0)

#define ONESTEP_FAIL(...) ::onestep::detail::throw_error(fmt::format(__VA_ARGS__))
