#pragma once
// A whole noise-conditioned network's float64 gradient check: its output with respect to the
// input and every parameter, at random weights (EDM's zero-initialised output layers would hide
// most of the network), in 3 random directions.

#include <string>
#include <vector>

#include "onestep/nn/noise_conditioned_net.h"
#include "testing/gradcheck.h"

namespace onestep::testing {

// "" when the gradients agree, else what differs. Converts `net` to float64.
inline std::string network_gradcheck(nn::NoiseConditionedNet& net, const Shape& x_shape,
                                     const Tensor& class_labels, uint64_t seed) {
  Rng gen(seed);
  net.to(DType::f64);
  randomise(net.parameters(), seed + 1);
  net.eval();
  const Tensor x = randn(x_shape, gen, DType::f64).set_requires_grad(true);
  const Tensor noise = randn({x_shape[0]}, gen, DType::f64);
  std::vector<Tensor> inputs = {x};
  for (const Tensor& p : net.parameters()) inputs.push_back(p);
  GradcheckOptions options;
  options.directions = 3;
  const auto f = [&](const std::vector<Tensor>& in) {
    return net.forward(in[0], noise, class_labels, nullptr);
  };
  return gradcheck(f, inputs, options);
}

}  // namespace onestep::testing
