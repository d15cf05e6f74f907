#pragma once
// How float32 convolutions and matrix products multiply (forward and backward). The default,
// fp32, uses the operands as they are. bf16 rounds both operands of every product to bfloat16
// (8-bit significand, round to nearest even) and sums the products in float32: twice the
// multiply-adds per instruction on CPUs with AVX512_BF16 (vdpbf16ps) and on tensor cores.
// Everything else stays float32: the tensors themselves (so parameters, optimizer state and
// gradients are float32 "master" copies), group norm statistics, softmax, losses, reductions.
// float64 tensors are never rounded.
//
// The setting belongs to the calling thread, as a scope: a library that embeds onestep and runs
// on several threads chooses per thread.

#include <string>
#include <string_view>

#include "onestep/engine/enum_names.h"

namespace onestep {

enum class MatmulPrecision { fp32, bf16 };

// This thread's setting (fp32 until set).
MatmulPrecision matmul_precision();

// Sets this thread's setting while alive, restores the previous one after.
class MatmulPrecisionScope {
 public:
  explicit MatmulPrecisionScope(MatmulPrecision precision);
  ~MatmulPrecisionScope();
  MatmulPrecisionScope(const MatmulPrecisionScope&) = delete;
  MatmulPrecisionScope& operator=(const MatmulPrecisionScope&) = delete;

 private:
  MatmulPrecision previous_;
};

// Each precision with its name ("fp32", "bf16"), the names parse and to_string use.
const EnumNames<MatmulPrecision>& matmul_precision_names();
// "fp32" or "bf16"; anything else is an onestep::Error naming the accepted values.
MatmulPrecision parse_matmul_precision(std::string_view text);
std::string to_string(MatmulPrecision precision);

// Whether this build multiplies bfloat16 on the CPU with AVX512_BF16 instructions. Where it does
// not, bf16 gives the same roundings through float32 multiply-adds, only slower than fp32.
bool cpu_has_bf16_instructions();

}  // namespace onestep
