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

const EnumNames<MatmulPrecision>& matmul_precision_names() {
  static const EnumNames<MatmulPrecision> names = {{MatmulPrecision::fp32, "fp32"},
                                                   {MatmulPrecision::bf16, "bf16"}};
  return names;
}

MatmulPrecision parse_matmul_precision(std::string_view text) {
  if (const auto precision = value_named(matmul_precision_names(), text)) return *precision;
  ONESTEP_FAIL("unknown precision '{}': expected fp32 or bf16", text);
}

std::string to_string(MatmulPrecision precision) {
  if (const std::string* name = name_of(matmul_precision_names(), precision)) return *name;
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
