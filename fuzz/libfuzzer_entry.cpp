// The libFuzzer entry point of one fuzz binary; ONESTEP_FUZZ_TARGET names its target function
// (set per binary in fuzz/CMakeLists.txt).

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onestep::fuzz::run_one(onestep::fuzz::ONESTEP_FUZZ_TARGET, data, size);
  return 0;
}
