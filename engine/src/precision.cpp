#include "onestep/engine/precision.h"

#include "onestep/engine/error.h"

namespace onestep {

namespace {
thread_local MatmulPrecision current = MatmulPrecision::fp32;
}  // namespace

MatmulPrecision matmul_precision() { return current; }

MatmulPrecisionScope::MatmulPrecisionScope(MatmulPrecision precision) : previous_(current) {
  current = precision;
}

MatmulPrecisionScope::~MatmulPrecisionScope() { current = previous_; }

const std::vector<std::pair<MatmulPrecision, std::string>>& matmul_precision_names() {
  static const std::vector<std::pair<MatmulPrecision, std::string>> names = {
      {MatmulPrecision::fp32, "fp32"}, {MatmulPrecision::bf16, "bf16"}};
  return names;
}

MatmulPrecision parse_matmul_precision(std::string_view text) {
  for (const auto& [precision, name] : matmul_precision_names())
    if (text == name) return precision;
  ONESTEP_FAIL("unknown precision '{}': expected fp32 or bf16", text);
}

std::string to_string(MatmulPrecision precision) {
  for (const auto& [value, name] : matmul_precision_names())
    if (value == precision) return name;
  ONESTEP_FAIL("unknown precision {}", static_cast<int>(precision));
}

bool cpu_has_bf16_instructions() {
#if defined(__AVX512BF16__)
  return true;
#else
  return false;
#endif
}

}  // namespace onestep
