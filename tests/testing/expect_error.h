#pragma once
// Checking a refusal: that a call throws onestep::Error and what its message says.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "onestep/engine/error.h"

namespace onestep::testing {

// Runs `fn`, expecting an onestep::Error whose message contains every one of `parts`.
template <class Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected onestep::Error containing '" << parts.front() << "'";
  } catch (const Error& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message '" << e.what() << "' lacks '" << part << "'";
    }
  }
}

}  // namespace onestep::testing
