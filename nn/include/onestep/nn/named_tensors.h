#pragma once

#include <string>
#include <utility>
#include <vector>

#include "onestep/engine/tensor.h"

namespace onestep::nn {

// Named tensors in a fixed order: state dicts, optimizer state, checkpoint contents.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace onestep::nn
