#pragma once
// The CUDA seam. In a build without -DONESTEP_CUDA=ON, available() is false and CUDA tensors
// cannot be created.

namespace onestep::cuda {

// True when the build has CUDA and a usable device and driver are present; any CUDA error
// (no driver, no device) maps to false.
bool available();
bool compiled();  // true in a -DONESTEP_CUDA=ON build

}  // namespace onestep::cuda
