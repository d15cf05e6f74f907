// Checks of flag values shared by the subcommands (commands.h).

#include <filesystem>

#include "commands.h"
#include "onestep/engine/cuda.h"

namespace onestep::app {

void check_output_folder(const std::string& flag, const std::string& path) {
  std::error_code error;
  ONESTEP_USAGE_CHECK(!path.empty(), "{} is empty", flag);
  ONESTEP_USAGE_CHECK(
      !std::filesystem::exists(path, error) || std::filesystem::is_directory(path, error),
      "{} {}: exists and is not a folder", flag, path);
}

Device check_device_flag(const std::string& text) {
  Device device;
  check_flags([&] { device = parse_device(text); });
  if (device.is_cuda()) {
    ONESTEP_USAGE_CHECK(cuda::compiled(),
                        "--device {}: this onestep was built without CUDA; rebuild with "
                        "-DONESTEP_CUDA=ON or use --device cpu",
                        text);
    ONESTEP_USAGE_CHECK(cuda::available(),
                        "--device {}: no usable CUDA device here ({}); use --device cpu", text,
                        cuda::unavailable_reason());
  }
  return device;
}

}  // namespace onestep::app
