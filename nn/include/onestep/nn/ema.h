#pragma once
// Exponential moving average of parameters, as EDM keeps for its network:
//   shadow = decay * shadow + (1 - decay) * param
// The shadows are plain tensors (no autograd) with each parameter's shape, dtype and device.

#include <cstdint>
#include <vector>

#include "onestep/engine/tensor.h"
#include "onestep/nn/named_tensors.h"

namespace onestep::nn {

class ExponentialMovingAverage {
 public:
  // Shadows start as copies of `params` (defined tensors, none repeated).
  explicit ExponentialMovingAverage(std::vector<Tensor> params);

  // decay in [0, 1]: 0 copies the parameters, 1 keeps the shadows.
  void update(double decay);

  // EDM's decay for a half-life given in images: 0.5^(batch_size / half_life_images).
  // half_life_images >= 0 (0 gives decay 0), batch_size > 0.
  static double decay_for_half_life(double half_life_images, double batch_size);
  // With EDM's ramp-up (training/training_loop.py): the half-life is capped at
  // images_seen * rampup_ratio, so early averages forget quickly; images_seen counts the images
  // before the current batch (the first update copies the parameters). EDM uses
  // rampup_ratio = 0.05; a half-life below 1e-8 images counts as 1e-8.
  static double decay_for_half_life(double half_life_images, double batch_size, double images_seen,
                                    double rampup_ratio);

  const std::vector<Tensor>& params() const { return params_; }
  const std::vector<Tensor>& shadows() const { return shadows_; }
  int64_t num_updates() const { return num_updates_; }

  // Writes the shadows into `targets` (same count, shapes and dtypes; any device), e.g. an
  // evaluation copy of the network.
  void copy_to(const std::vector<Tensor>& targets) const;
  // Writes the shadows into the tracked parameters.
  void copy_to() const { copy_to(params_); }
  // Exchanges the values of parameters and shadows, to evaluate the average in place; a second
  // swap() restores the training weights. update() in between would average the wrong way round.
  void swap();

  // "shadow.<i>" copies for every parameter and "num_updates" (0-d i64).
  NamedTensors state() const;
  // Needs exactly the entries state() writes, with matching shapes and dtypes; throws
  // onestep::Error and changes nothing on a mismatch.
  void load_state(const NamedTensors& state);

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> shadows_;
  int64_t num_updates_ = 0;
};

}  // namespace onestep::nn
