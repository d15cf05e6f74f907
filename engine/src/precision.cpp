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

MatmulPrecision parse_matmul_precision(std::string_view text) {
  if (text == "fp32") return MatmulPrecision::fp32;
  if (text == "bf16") return MatmulPrecision::bf16;
  ONESTEP_FAIL("unknown precision '{}': expected fp32 or bf16", text);
}

std::string to_string(MatmulPrecision precision) {
  return precision == MatmulPrecision::bf16 ? "bf16" : "fp32";
}

bool cpu_has_bf16_instructions() {
#if defined(__AVX512BF16__)
  return true;
#else
  return false;
#endif
}

}  // namespace onestep
