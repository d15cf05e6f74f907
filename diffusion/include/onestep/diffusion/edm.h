#pragma once
// EDM (Karras et al. 2022): preconditioning, the denoising score-matching loss, noise levels.
//   D(x; s) = c_skip x + c_out F(c_in x, c_noise), c_skip = sd^2/(s^2+sd^2),
//   c_out = s sd / sqrt(s^2+sd^2), c_in = 1/sqrt(s^2+sd^2), c_noise = ln(s)/4.

#include <memory>

#include "onestep/engine/random.h"
#include "onestep/nn/module.h"
#include "onestep/nn/noise_conditioned_net.h"

namespace onestep::diffusion {

struct EdmCoefficients {
  double c_skip, c_out, c_in, c_noise;
};
EdmCoefficients edm_coefficients(double sigma, double sigma_data);
// lambda(s) = (s^2 + sd^2) / (s sd)^2: makes the loss's target unit-variance at every s.
double edm_loss_weight(double sigma, double sigma_data);

// EDM's EDMPrecond: wraps the network as the child "model" (keys "model.enc...").
class EdmPrecond : public nn::Module {
 public:
  explicit EdmPrecond(std::shared_ptr<nn::NoiseConditionedNet> model, double sigma_data = 0.5);
  // x: [N, ...]; sigma: [N] or one element; class_labels: [N, label_dim] one-hot, or undefined.
  Tensor forward(const Tensor& x, const Tensor& sigma, const Tensor& class_labels = Tensor(),
                 Rng* gen = nullptr) const;
  Tensor forward(const Tensor& x, double sigma, const Tensor& class_labels = Tensor(),
                 Rng* gen = nullptr) const;
  // The network's encoder bottleneck for the preconditioned input (what a discriminator reads).
  Tensor encode(const Tensor& x, const Tensor& sigma, const Tensor& class_labels = Tensor(),
                Rng* gen = nullptr) const;
  double sigma_data() const { return sigma_data_; }
  int64_t label_dim() const { return model_->label_dim(); }
  nn::NoiseConditionedNet& model() const { return *model_; }

 private:
  std::shared_ptr<nn::NoiseConditionedNet> model_;
  double sigma_data_;
};

struct EdmLossOptions {
  double p_mean = -1.2;  // ln(sigma) ~ N(p_mean, p_std^2)
  double p_std = 1.2;
};

// lambda(s) ||D(x0 + s n; s) - x0||^2 summed over each sample's elements: [N]. sigma and n are
// drawn from `gen`; `dropout_gen` feeds the network's dropout when training.
Tensor edm_loss(const EdmPrecond& net, const Tensor& x0, const Tensor& class_labels, Rng& gen,
                const EdmLossOptions& options = {}, Rng* dropout_gen = nullptr);
// The same loss at given noise levels sigma [N] (noise still drawn from `gen`).
Tensor edm_loss_at(const EdmPrecond& net, const Tensor& x0, const Tensor& class_labels,
                   const Tensor& sigma, Rng& gen, Rng* dropout_gen = nullptr);

// One-hot [N, num_classes] in `dtype` from i64 labels [N].
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::f32);

}  // namespace onestep::diffusion
