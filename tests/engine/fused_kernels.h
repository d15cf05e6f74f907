#pragma once
// Which of the Backend's optional fused kernels (engine/src/backend.h: a method that returns
// false sends the op to its composite) a backend has. Each is called once on small valid
// inputs; the tests compare the answer with the list each backend is documented to have
// (docs/ENGINE.md), so that a kernel cannot silently stop being used, or a new one go unlisted.

#include <set>
#include <string>

#include "backend.h"
#include "onestep/engine.h"

namespace onestep::testing {

inline std::set<std::string> fused_kernels_of(Device device) {
  backend::Backend& be = backend::get(device);
  std::set<std::string> found;
  auto make = [&](const Shape& shape, double value) {
    return full(shape, value, DType::f32, device);
  };
  const Tensor x = make({2, 4, 3}, 0.5), w = make({4}, 1.0), b = make({4}, 0.0);
  const Tensor mean = make({2, 2}, 0.0), rstd = make({2, 2}, 0.0), out = make({2, 4, 3}, 0.0);
  if (be.group_norm_forward(x, w, b, 2, 1e-5, true, out, mean, rstd))
    found.insert("group_norm_forward");
  const Tensor gx = make({2, 4, 3}, 0.0), gw = make({4}, 0.0), gb = make({4}, 0.0);
  if (be.group_norm_backward(x, x, w, b, mean, rstd, 2, true, gx, gw, gb))
    found.insert("group_norm_backward");
  const Tensor image = make({1, 2, 4, 4}, 1.0), kernel = make({3, 2, 3, 3}, 1.0);
  if (be.conv2d_forward_with_bias(image, kernel, make({3}, 1.0), make({1, 3, 2, 2}, 0.0), {}))
    found.insert("conv2d_forward_with_bias");
  const Tensor p = make({5}, 1.0), g = make({5}, 1.0), m = make({5}, 0.0), v = make({5}, 0.0);
  if (be.adam_update({{p, g, m, v, 1e-3, 1.0}}, {0.9, 0.999, 1e-8, 0.0, false, 1.0}))
    found.insert("adam_update");
  return found;
}

}  // namespace onestep::testing
