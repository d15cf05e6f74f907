// A .npy file as `onestep sample --noise` and `onestep eval --samples` read it: parsed, then
// converted to a tensor when its dtype has one.

#include "fuzz_targets.h"
#include "onestep/diffusion/npy.h"

namespace onestep::fuzz {

void npy(const uint8_t* data, size_t size) {
  const diffusion::NpyArray array = diffusion::parse_npy(data, size, "fuzz.npy");
  (void)touch(array.data.data(), array.data.size());
  const Tensor t = diffusion::npy_to_tensor(array);
  (void)t.numel();
}

}  // namespace onestep::fuzz
