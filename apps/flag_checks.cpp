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

void add_precision_flag(CLI::App& cmd, std::string& precision) {
  cmd.add_option("--precision", precision,
                 "Operands of convolutions and matrix products: fp32, or bf16 (rounded to "
                 "bfloat16, summed in float32; parameters, optimizer state and everything else "
                 "stay float32)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}

std::string precision_description(MatmulPrecision precision, const Device& device) {
  if (precision == MatmulPrecision::fp32) return "fp32";
  if (device.is_cuda()) return "bf16 (tensor cores)";
  return cpu_has_bf16_instructions()
             ? "bf16 (AVX512_BF16)"
             : "bf16 (no AVX512_BF16 in this build: same results through float32 multiply-adds, "
               "slower than fp32)";
}

}  // namespace onestep::app
