#pragma once
// Scratch folders for tests that write runs and checkpoints.

#include <string>

namespace onestep::testing {

// GoogleTest's temp folder / "onestep_<name>_<pid>", emptied (removed if it exists) and not
// created: the pid keeps parallel ctest processes apart.
std::string fresh_temp_dir(const std::string& name);

}  // namespace onestep::testing
