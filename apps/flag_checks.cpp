// Checks of flag values shared by the subcommands (commands.h).

#include <filesystem>

#include "commands.h"

namespace onestep::app {

void check_output_folder(const std::string& flag, const std::string& path) {
  std::error_code error;
  ONESTEP_USAGE_CHECK(!path.empty(), "{} is empty", flag);
  ONESTEP_USAGE_CHECK(
      !std::filesystem::exists(path, error) || std::filesystem::is_directory(path, error),
      "{} {}: exists and is not a folder", flag, path);
}

}  // namespace onestep::app
