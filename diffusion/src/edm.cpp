#include "onestep/diffusion/edm.h"

#include <cmath>

#include "onestep/engine.h"

namespace onestep::diffusion {

EdmCoefficients edm_coefficients(double sigma, double sd) {
  const double total = sigma * sigma + sd * sd;
  return {sd * sd / total, sigma * sd / std::sqrt(total), 1.0 / std::sqrt(total),
          std::log(sigma) / 4.0};
}

double edm_loss_weight(double sigma, double sd) {
  return (sigma * sigma + sd * sd) / (sigma * sd * sigma * sd);
}

EdmPrecond::EdmPrecond(std::shared_ptr<nn::NoiseConditionedNet> model, double sigma_data)
    : model_(register_module("model", std::move(model))), sigma_data_(sigma_data) {
  ONESTEP_CHECK(sigma_data > 0, "EdmPrecond: sigma_data must be positive, got {}", sigma_data);
}

Tensor EdmPrecond::forward(const Tensor& x, const Tensor& sigma, const Tensor& class_labels,
                           Rng* gen) const {
  ONESTEP_CHECK(x.dim() >= 1, "EdmPrecond: input must have a batch dim");
  const int64_t batch = x.size(0);
  ONESTEP_CHECK(sigma.numel() == batch || sigma.numel() == 1,
                "EdmPrecond: {} noise levels for a batch of {}", sigma.numel(), batch);
  // Noise levels as [N, 1, ..., 1] so the coefficients broadcast over each sample.
  Shape per_sample(x.dim(), 1);
  per_sample[0] = batch;
  const Tensor s = sigma.to(x.dtype()).reshape({-1}).expand({batch}).reshape(per_sample);
  const double sd2 = sigma_data_ * sigma_data_;
  const Tensor total = s * s + sd2;
  const Tensor c_skip = sd2 / total;
  const Tensor c_out = s * sigma_data_ * rsqrt(total);
  const Tensor c_in = rsqrt(total);
  const Tensor c_noise = log(s.reshape({batch})) * 0.25;
  const Tensor F = model_->forward(x * c_in, c_noise, class_labels, gen);
  return c_skip * x + c_out * F.to(x.dtype());
}

Tensor EdmPrecond::encode(const Tensor& x, const Tensor& sigma, const Tensor& class_labels,
                          Rng* gen) const {
  const int64_t batch = x.size(0);
  ONESTEP_CHECK(sigma.numel() == batch || sigma.numel() == 1,
                "EdmPrecond: {} noise levels for a batch of {}", sigma.numel(), batch);
  Shape per_sample(x.dim(), 1);
  per_sample[0] = batch;
  const Tensor s = sigma.to(x.dtype()).reshape({-1}).expand({batch});
  const Tensor c_in = rsqrt(square(s) + sigma_data_ * sigma_data_).reshape(per_sample);
  return model_->encode(x * c_in, log(s) * 0.25, class_labels, gen);
}

Tensor EdmPrecond::forward(const Tensor& x, double sigma, const Tensor& class_labels,
                           Rng* gen) const {
  return forward(x, full({1}, sigma, x.dtype(), x.device()), class_labels, gen);
}

Tensor edm_loss(const EdmPrecond& net, const Tensor& x0, const Tensor& class_labels, Rng& gen,
                const EdmLossOptions& options, Rng* dropout_gen) {
  const int64_t batch = x0.size(0);
  const Tensor sigma =
      exp(randn({batch}, gen, x0.dtype(), x0.device()) * options.p_std + options.p_mean);
  return edm_loss_at(net, x0, class_labels, sigma, gen, dropout_gen);
}

Tensor edm_loss_at(const EdmPrecond& net, const Tensor& x0, const Tensor& class_labels,
                   const Tensor& sigma, Rng& gen, Rng* dropout_gen) {
  const int64_t batch = x0.size(0);
  ONESTEP_CHECK(sigma.numel() == batch, "edm_loss: {} noise levels for a batch of {}",
                sigma.numel(), batch);
  Shape per_sample(x0.dim(), 1);
  per_sample[0] = batch;
  const Tensor s = sigma.reshape(per_sample);
  const double sd2 = net.sigma_data() * net.sigma_data();
  const Tensor weight = (s * s + sd2) / (s * s * sd2);
  const Tensor noisy = x0 + randn_like(x0, gen) * s;
  const Tensor denoised = net.forward(noisy, sigma, class_labels, dropout_gen);
  const Tensor error = denoised - x0;
  std::vector<int64_t> sample_dims;
  for (int64_t d = 1; d < x0.dim(); ++d) sample_dims.push_back(d);
  return sum(weight * error * error, sample_dims).reshape({batch});
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype) {
  ONESTEP_CHECK(labels.dtype() == DType::i64 && labels.dim() == 1,
                "one_hot: labels must be a 1-D i64 tensor, got {} {}", dtype_name(labels.dtype()),
                shape_str(labels.shape()));
  ONESTEP_CHECK(num_classes >= 1, "one_hot: num_classes must be positive, got {}", num_classes);
  const Tensor classes = arange(0, static_cast<double>(num_classes), 1, dtype, labels.device());
  const Tensor identity = eq(classes.reshape({num_classes, 1}), classes.reshape({1, num_classes}));
  return index_select(identity, 0, labels);
}

}  // namespace onestep::diffusion
