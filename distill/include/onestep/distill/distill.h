#pragma once
// Distilling a teacher into a one-step generator (`onestep distill`, docs/DISTILL.md). Each
// iteration: `fake_steps` updates of the fake score network (EDM loss on detached generator
// samples) and, when the method needs one, of the discriminator head on its encoder bottleneck;
// then one generator update. Adam with beta1 = 0 for both, an EMA of the generator, warm-up
// phases (generator frozen, then the SIM term alone), non-finite steps skipped and counted,
// atomic checkpoints, exact resume, metrics.jsonl, a checkpoint on SIGINT/SIGTERM.
//
// Run directory: config.json, metrics.jsonl, generator.safetensors (the EMA generator: a
// denoiser config with one_step_sigma, sampled with one network evaluation), state.safetensors,
// samples.png.

#include <memory>
#include <string>
#include <vector>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/edm.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/distill/discriminator_head.h"
#include "onestep/distill/methods.h"
#include "onestep/run/nonfinite_steps.h"
#include "onestep/run/option_table.h"
#include "onestep/run/run.h"
#include "onestep/run/training_loop.h"

namespace onestep::distill {

// Settings with a few named values: enums in the options, their names ("grid", "lognormal",
// ...) in config.json and on the command line, converted once by the option table.
enum class SigmaSampling { grid, lognormal };
enum class DiscriminatorLogit { mean, learned };
enum class SigmaWeighting { uniform, lambda };

struct DistillOptions : run::RunSettings {
  std::string teacher;  // teacher checkpoint
  std::string data;     // real data for the discriminator; empty: the teacher's dataset
  MethodKind method = MethodKind::uni_instruct;
  MethodOptions method_options;
  double sigma_init = 2.5;

  int64_t batch = 256;
  int64_t total_images = 1000000;  // generator samples drawn in generator updates
  double lr_generator = 1e-5;
  double lr_fake = 1e-5;
  double lr_discriminator_head = 0;  // the learned head's (0: lr_fake)
  double beta1 = 0.0, beta2 = 0.999, adam_eps = 1e-8;
  double ema_halflife_images = 500000;
  double ema_rampup = 0.05;
  double fake_grad_clip = 1.0;          // on the fake network of methods with a GAN term (0: off)
  int64_t generator_warmup_images = 0;  // generator frozen while the fake network catches up
  int64_t sim_only_images = 0;          // then the SIM term alone (h = 1, no GAN)
  double sigma_min = 0.002, sigma_max = 80.0, rho = 7.0, u_max = 0.8;  // generator noise levels
  // Noise levels of the fake network's EDM loss: grid (the generator's Karras grid, where the
  // generator queries it) or lognormal (EDM's ln sigma ~ N(p_mean, p_std^2), fake_loss; what
  // SiD, SiDA and the official Uni-Instruct code use).
  SigmaSampling fake_sigma = SigmaSampling::grid;
  // Noise levels of the discriminator's BCE (the official SiDA and Uni-Instruct code train it at
  // the fake score's log-normal levels).
  SigmaSampling discriminator_sigma = SigmaSampling::grid;
  // The discriminator's logit: mean (the channel mean of the fake network's encoder bottleneck,
  // as SiDA and the official Uni-Instruct code) or learned (DiscriminatorHead).
  DiscriminatorLogit discriminator_head = DiscriminatorLogit::mean;
  diffusion::EdmLossOptions fake_loss;
  // The generator's score loss is averaged over each sample's elements and scaled by this (the
  // GAN weight is relative to it, as in the official code).
  double score_scale = 100.0;
  // The discriminator's BCE is multiplied by this times the elements per sample, to weigh as
  // much as the fake network's EDM loss, which sums over them.
  double discriminator_weight = 1.0;
  // uniform (every noise level counts alike) or lambda (EDM's lambda(sigma) weights, which put
  // nearly all of the weight on sigma < 0.1 while r is used at every sigma).
  SigmaWeighting discriminator_sigma_weighting = SigmaWeighting::uniform;
  int64_t regression_pairs = 256;  // DMD: teacher ODE pairs from fixed noise
  int64_t regression_steps = 18;   // DMD: Heun steps for the pairs

  // Every this many images (0: never), and at the start and end of a run, the EMA generator's
  // samples from a fixed noise set are scored against the data (diffusion/sample_quality.h) and
  // the scores appended to metrics.jsonl as eval_* values: a learning curve.
  int64_t eval_every_images = 0;
  int64_t eval_samples = 2000;
  std::string eval_features;  // the feature network for image data

  DistillOptions() : RunSettings("runs/distill") {}

  void validate() const;
  std::string to_json() const;
  static DistillOptions from_json(const std::string& text);
};

// Every setting of DistillOptions, described once: config.json, validate() and the command's
// flags come from it.
const run::OptionTable<DistillOptions>& distill_option_table();

const std::vector<std::string>& distill_preset_names();
// "toy", "fmnist-cpu", "fmnist", "cifar10" (the official CIFAR-10 settings), for `method`. On
// toy and fmnist-cpu, uni-instruct gets the recipe measured best for it (divergence, GAN and
// regression weights, learning rates, discriminator head, budget); other methods their defaults.
DistillOptions distill_preset(const std::string& name, const std::string& method = "uni-instruct");

// steps counts generator iterations.
struct DistillResult : run::TrainingOutcome {
  double last_generator_loss = 0;
  double last_fake_loss = 0;
};

DistillResult distill(const DistillOptions& options, bool resume);

// A distillation's networks and optimisers, stepped by the caller: the iteration distill() runs
// (fake-score steps, then the generator step, with their non-finite checks and EMA update),
// without distill()'s files, logs and evaluations. `onestep bench` times it.
class DistillTraining : public run::SteppedTraining {
 public:
  // The teacher and data as distill() finds them: options.teacher, and --data or the data the
  // teacher was trained on.
  explicit DistillTraining(const DistillOptions& options);
  // A teacher and a data stream already in memory; data may be null when the method needs none.
  DistillTraining(const DistillOptions& options, diffusion::LoadedDenoiser teacher,
                  std::unique_ptr<diffusion::DataSource> data);
  ~DistillTraining();

  // step() (one iteration: the fake-score steps, then the generator step) and images() (batch x
  // iterations) come from SteppedTraining.
  // The generator as trained (distill() saves the EMA of its weights as generator.safetensors).
  const diffusion::EdmPrecond& generator() const;
};
inline DistillOptions read_distill_config(const std::string& run_dir) {
  return run::read_run_config<DistillOptions>(run_dir);
}
// Everything that can be checked before any work: validate(), the run directory, that the
// teacher file exists, the --data spec and its folder, and the device. Throws onestep::Error.
void check_distill_options(const DistillOptions& options, bool resume);

// x_g = D_theta(sigma_init z; sigma_init): one network evaluation.
Tensor generate(const diffusion::EdmPrecond& generator, const Tensor& z, double sigma_init,
                const Tensor& class_labels = Tensor());
// The discriminator logit l(x; sigma) [N] read from the fake network's encoder bottleneck: its
// mean, or `head` applied to it when given.
Tensor discriminator_logit(const diffusion::EdmPrecond& fake, const Tensor& x, const Tensor& sigma,
                           const Tensor& class_labels = Tensor(),
                           const DiscriminatorHead* head = nullptr);
// The bottleneck's shape for one sample of `data_shape` (what a DiscriminatorHead is built for).
Shape bottleneck_shape(const diffusion::EdmPrecond& fake, const Shape& data_shape,
                       int64_t label_dim);
// How the discriminator's input-gradient grad_x l(x_t), which the default ratio gradient relies
// on, compares per sample with (D_p - D_q) / sigma^2 = s_p - s_q, which equals grad_x log r when
// the fake score is exact: cosine and norm ratio |grad l| / |(D_p - D_q) / sigma^2|. logit must
// have its graph to x_t (kept for a later backward pass).
struct RatioGradientAgreement {
  std::vector<double> cosine, norm_ratio, sigma;  // per sample
};
RatioGradientAgreement ratio_gradient_agreement(const Tensor& logit, const Tensor& x_t,
                                                const Tensor& d_p, const Tensor& d_q,
                                                const Tensor& sigma);

// 1/2 [BCE(l(x_real + s e), 1) + BCE(l(x_fake + s e), 0)] per sample; with lambda_weighting
// multiplied by EDM's lambda(sigma) = 1/sigma^2 + 1/sigma_data^2 divided by its batch mean.
Tensor discriminator_loss(const diffusion::EdmPrecond& fake, const Tensor& real,
                          const Tensor& real_labels, const Tensor& fake_samples,
                          const Tensor& fake_labels, const Tensor& sigma, const Tensor& noise,
                          bool lambda_weighting = false, const DiscriminatorHead* head = nullptr);

}  // namespace onestep::distill
