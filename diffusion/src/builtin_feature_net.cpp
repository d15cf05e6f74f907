// The committed feature network (assets/fmnist-features.safetensors) inside the library, so that
// a onestep binary copied anywhere scores Fashion-MNIST samples without the source tree. The
// assembler's .incbin copies the file's bytes into read-only data at build time; CMake rebuilds
// this file when the asset changes (OBJECT_DEPENDS).

#include "onestep/diffusion/feature_net.h"

#ifndef ONESTEP_FEATURES_ASSET
#error "ONESTEP_FEATURES_ASSET (the path of the feature network to embed) is not defined"
#endif

__asm__(
    ".pushsection .rodata\n"
    ".balign 64\n"
    ".global onestep_builtin_feature_net_begin\n"
    "onestep_builtin_feature_net_begin:\n"
    ".incbin \"" ONESTEP_FEATURES_ASSET "\"\n"
    ".global onestep_builtin_feature_net_end\n"
    "onestep_builtin_feature_net_end:\n"
    ".popsection\n");

extern "C" const unsigned char onestep_builtin_feature_net_begin[];
extern "C" const unsigned char onestep_builtin_feature_net_end[];

namespace onestep::diffusion {

BuiltinBytes builtin_feature_net_bytes() {
  return {onestep_builtin_feature_net_begin,
          static_cast<size_t>(onestep_builtin_feature_net_end - onestep_builtin_feature_net_begin)};
}

}  // namespace onestep::diffusion
