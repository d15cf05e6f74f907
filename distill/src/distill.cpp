// The distillation loop.

#include "onestep/distill/distill.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/diffusion/sample_quality.h"
#include "onestep/diffusion/sampler.h"
#include "onestep/distill/generator_loss.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"
#include "onestep/nn/ema.h"
#include "onestep/nn/grad_utils.h"
#include "onestep/nn/optimizer.h"
#include "onestep/nn/safetensors.h"
#include "onestep/run/run.h"
#include "onestep/run/training_loop.h"
#include "onestep/run/training_state.h"

namespace onestep::distill {

// The training-run skeleton this run is built on (onestep/run).
using namespace run;

using namespace diffusion;

namespace {

Shape per_sample_shape(const Tensor& x) {
  Shape s(x.dim(), 1);
  s[0] = x.size(0);
  return s;
}

}  // namespace

RatioGradientAgreement ratio_gradient_agreement(const Tensor& logit, const Tensor& x_t,
                                                const Tensor& d_p, const Tensor& d_q,
                                                const Tensor& sigma) {
  const int64_t n = x_t.size(0);
  // retain_graph: the generator's backward pass still needs the logit's graph.
  const Tensor grad_logit = autograd::grad({sum(logit)}, {x_t}, {}, true)[0];
  NoGradGuard no_grad;
  // (D_p - D_q) / sigma^2 = s_p - s_q with the networks' scores: grad_x log r when D_q is exact.
  const Tensor closed_form = (d_p - d_q) / square(sigma.reshape(per_sample_shape(x_t)));
  const Tensor a = grad_logit.reshape({n, -1}).to(DType::f64);
  const Tensor b = closed_form.reshape({n, -1}).to(DType::f64);
  const Tensor norm_a = sqrt(sum(a * a, {1})), norm_b = sqrt(sum(b * b, {1}));
  RatioGradientAgreement out;
  out.cosine = (sum(a * b, {1}) / clamp(norm_a * norm_b, 1e-300, 1e300)).to_vector<double>();
  out.norm_ratio = (norm_a / clamp(norm_b, 1e-300, 1e300)).to_vector<double>();
  out.sigma = sigma.reshape({n}).to(DType::f64).to_vector<double>();
  return out;
}

Tensor generate(const EdmPrecond& generator, const Tensor& z, double sigma_init,
                const Tensor& class_labels) {
  return generator.forward(z * sigma_init, sigma_init, class_labels);
}

Tensor discriminator_logit(const EdmPrecond& fake, const Tensor& x, const Tensor& sigma,
                           const Tensor& class_labels, const DiscriminatorHead* head) {
  const Tensor features = fake.encode(x, sigma, class_labels);
  if (head) return head->forward(features);
  return mean(features.reshape({x.size(0), -1}), {1});
}

Shape bottleneck_shape(const EdmPrecond& fake, const Shape& data_shape, int64_t label_dim) {
  NoGradGuard no_grad;
  Shape one = {1};
  one.insert(one.end(), data_shape.begin(), data_shape.end());
  const std::vector<Tensor> params = fake.parameters();
  const Device device = params.empty() ? Device::cpu() : params[0].device();
  const Tensor labels = label_dim > 0 ? zeros({1, label_dim}, DType::f32, device) : Tensor();
  const Tensor features =
      fake.encode(zeros(one, DType::f32, device), full({1}, 1.0, DType::f32, device), labels);
  return Shape(features.shape().begin() + 1, features.shape().end());
}

Tensor discriminator_loss(const EdmPrecond& fake, const Tensor& real, const Tensor& real_labels,
                          const Tensor& fake_samples, const Tensor& fake_labels,
                          const Tensor& sigma, const Tensor& noise, bool lambda_weighting,
                          const DiscriminatorHead* head) {
  const Tensor s = sigma.reshape(per_sample_shape(real));
  const Tensor logit_real = discriminator_logit(fake, real + noise * s, sigma, real_labels, head);
  const Tensor logit_fake =
      discriminator_logit(fake, fake_samples + noise * s, sigma, fake_labels, head);
  // BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l).
  const Tensor bce = (softplus(neg(logit_real)) + softplus(logit_fake)) * 0.5;
  if (!lambda_weighting) return bce;
  Tensor weight;
  {
    NoGradGuard no_grad;
    const double sd2 = fake.sigma_data() * fake.sigma_data();
    const Tensor s2 = square(sigma.reshape({-1}));
    weight = (s2 + sd2) / (s2 * sd2);
    weight = weight / global_batch_mean(weight);
  }
  return weight * bce;
}

namespace {

// The real-data spec of a run: --data, else the one the teacher was trained on.
std::string data_spec_of(const DistillOptions& o, const ModelConfig& teacher_config) {
  return o.data.empty() ? teacher_config.data_spec : o.data;
}

// The real data the run needs (the discriminator's, the preview's reference), or null.
std::unique_ptr<DataSource> open_distill_data(const DistillOptions& o,
                                              const ModelConfig& teacher_config) {
  const Method method = make_method(o.method, o.method_options);
  if (!method.needs_discriminator() && o.preview_samples == 0) return nullptr;
  const std::string spec = data_spec_of(o, teacher_config);
  ONESTEP_CHECK(!spec.empty(), "distill: {} needs real data; the teacher names none, so set data",
                method.name);
  return open_dataset(spec, DataOptions{stream_seed(o.seed, 0), false, false});
}

}  // namespace

class DistillRun : public TrainingLoop {
 public:
  DistillRun(const DistillOptions& options, LoadedDenoiser teacher,
             std::unique_ptr<DataSource> data, bool resume)
      : o_(options),
        method_(make_method(o_.method, o_.method_options)),
        teacher_(std::move(teacher)),
        model_config_(teacher_.config),
        device_(rank_device(o_.device)),
        local_batch_(local_batch(o_.batch, "distill")),
        gen_(stream_seed(o_.seed, 1)),
        data_(shard_for_this_rank(std::move(data))) {
    // Data parallel: each rank draws its rows of every batch-sized draw.
    shard_by_rank(gen_);
    ONESTEP_CHECK(teacher_.config.one_step_sigma == 0,
                  "distill: {} is already a one-step generator, not a teacher", o_.teacher);
    ONESTEP_CHECK(data_ || !method_.needs_discriminator(),
                  "distill: {} needs real data and none was given", method_.name);
    teacher_.net->to(device_);
    teacher_.net->set_requires_grad(false);
    teacher_.net->eval();
    Rng unused(0);  // weights come from the teacher
    generator_ = build_denoiser(model_config_, unused);
    fake_ = build_denoiser(model_config_, unused);
    ema_net_ = build_denoiser(model_config_, unused);
    for (const auto& net : {generator_, fake_, ema_net_}) {
      net->copy_state_from(*teacher_.net);
      net->eval();  // no dropout in distillation
    }
    for (const auto& net : {generator_, fake_, ema_net_}) net->to(device_);
    ema_net_->set_requires_grad(false);
    label_dim_ = model_config_.label_dim();
    model_config_.one_step_sigma = o_.sigma_init;
    model_config_.source =
        fmt::format("onestep distill {} from {}", method_.describe(), o_.teacher);
    const std::string spec = data_spec_of(o_, teacher_.config);
    if (data_) {
      ONESTEP_CHECK(label_dim_ == 0 || data_->info().num_classes == label_dim_,
                    "distill: the teacher has {} classes, {} has {}", label_dim_, spec,
                    data_->info().num_classes);
    }
    generator_params_ = generator_->parameters();
    fake_params_ = fake_->parameters();
    if (method_.needs_discriminator() && o_.discriminator_head == DiscriminatorLogit::learned) {
      Rng head_gen(stream_seed(o_.seed, 8));
      head_ = std::make_shared<DiscriminatorHead>(
          bottleneck_shape(*fake_, model_config_.data_shape, label_dim_), head_gen);
      head_->to(device_);
    }
    fake_step_params_ = fake_params_;
    adam_g_ = std::make_unique<nn::Adam>(
        generator_params_, nn::AdamOptions{o_.lr_generator, o_.beta1, o_.beta2, o_.adam_eps, 0.0});
    adam_f_ = std::make_unique<nn::Adam>(
        fake_params_, nn::AdamOptions{o_.lr_fake, o_.beta1, o_.beta2, o_.adam_eps, 0.0});
    if (head_) {
      // Its own learning rate: it starts from scratch where the fake network starts from the
      // teacher, and a distillation on the CPU gives it only hundreds of updates.
      const std::vector<Tensor> head_params = head_->parameters();
      adam_head_ = std::make_unique<nn::Adam>(
          head_params,
          nn::AdamOptions{o_.lr_discriminator_head > 0 ? o_.lr_discriminator_head : o_.lr_fake,
                          o_.beta1, o_.beta2, o_.adam_eps, 0.0});
      // One clipping norm and one skip decision for the fake network and its head.
      fake_step_params_.insert(fake_step_params_.end(), head_params.begin(), head_params.end());
    }
    ema_ = std::make_unique<nn::ExponentialMovingAverage>(generator_params_);
    if (method_.regression_weight > 0) make_regression_pairs();
    if (o_.eval_every_images > 0) {
      ONESTEP_CHECK(!spec.empty(),
                    "distill: eval_every_images needs the data; the teacher names none, "
                    "so set data");
      scorer_ = std::make_unique<SampleScorer>(spec, o_.eval_features, o_.eval_samples,
                                               stream_seed(o_.seed, 6));
      Rng eval_gen(stream_seed(o_.seed, 7));
      eval_noise_ = randn(sample_shape(o_.eval_samples), eval_gen, DType::f32, device_);
      if (label_dim_ > 0)
        eval_labels_ =
            one_hot(randint(0, label_dim_, {o_.eval_samples}, eval_gen).to(device_), label_dim_);
    }
    if (resume) load_state();
  }

  const DistillOptions& options() const { return o_; }
  const Method& method() const { return method_; }
  const EdmPrecond& generator() const { return *generator_; }

  DistillResult run() {
    const MatmulPrecisionScope precision(o_.precision);
    TrainingSchedule schedule = schedule_of(o_, "distill", device_);
    schedule.eval_every_images = scorer_ ? o_.eval_every_images : 0;
    const TrainingOutcome outcome = run_loop(schedule);
    return DistillResult{outcome, last_generator_loss_, last_fake_loss_};
  }

 private:
  // Noise-level bands of the ratio-gradient agreement in metrics.jsonl: upper edges.
  static constexpr double kBandEdges[] = {0.05, 0.5, 5.0, INFINITY};
  static constexpr const char* kBandNames[] = {"sigma_lt_0.05", "sigma_0.05_0.5", "sigma_0.5_5",
                                               "sigma_ge_5"};
  static constexpr int kBands = 4;

  struct Sums {
    double fake = 0, disc = 0, score = 0, gan = 0, ratio = 0, regression = 0;
    int64_t fake_count = 0, gen_count = 0;
    double grad_cosine[kBands] = {}, grad_norm_ratio[kBands] = {};
    int64_t grad_count[kBands] = {};
    static double mean(double total, int64_t count) {
      return count ? total / static_cast<double>(count) : NAN;
    }
  };

  // One metrics.jsonl line and progress update for the iterations since the last one.
  void log_interval(MetricsLog& metrics, Progress& progress) override {
    Sums& sums = sums_;
    const double elapsed = progress.elapsed_seconds();
    const double rate = images_rate(elapsed);
    MetricValues values = {
        {"iteration", static_cast<double>(steps_)},
        {"images", static_cast<double>(images_)},
        {"fake_loss", sums.mean(sums.fake, sums.fake_count)},
        {"discriminator_loss", sums.mean(sums.disc, sums.fake_count)},
        {"generator_loss", sums.mean(sums.score, sums.gen_count)},
        {"gan_loss", sums.mean(sums.gan, sums.gen_count)},
        {"mean_ratio", sums.mean(sums.ratio, sums.gen_count)},
        {"regression_loss", sums.mean(sums.regression, sums.gen_count)},
        {"images_per_s", rate},
        {"skipped_steps", static_cast<double>(skipped_total_)},
        {"peak_memory_bytes", static_cast<double>(memory_stats(device_).peak_allocated_bytes)},
        {"wall_s", elapsed}};
    if (method_.needs_discriminator()) {
      for (int band = 0; band < kBands; ++band) {
        values.emplace_back(fmt::format("ratio_grad_cosine_{}", kBandNames[band]),
                            sums.mean(sums.grad_cosine[band], sums.grad_count[band]));
        values.emplace_back(fmt::format("ratio_grad_norm_ratio_{}", kBandNames[band]),
                            sums.mean(sums.grad_norm_ratio[band], sums.grad_count[band]));
      }
    }
    metrics.write(values);
    measure_ratio_gradient_ = true;
    progress.update(
        static_cast<double>(images_) / static_cast<double>(o_.total_images),
        static_cast<double>(o_.total_images - images_) / std::max(rate, 1e-9),
        fmt::format("iteration {} | {} images | fake {:.4f} | generator {} | {:.1f} img/s{}",
                    steps_, images_, sums.mean(sums.fake, sums.fake_count),
                    sums.gen_count ? fmt::format("{:.4f}", sums.mean(sums.score, sums.gen_count))
                                   : std::string("warm-up"),
                    rate, last_eval_summary_));
    last_generator_loss_ = sums.mean(sums.score, sums.gen_count);
    last_fake_loss_ = sums.mean(sums.fake, sums.fake_count);
    sums = Sums();
  }

  // Scores the EMA generator on the fixed evaluation noise: one metrics.jsonl line of eval_*
  // values, remembered for the progress line.
  void evaluate(MetricsLog& metrics, Progress& progress) override {
    const auto start = std::chrono::steady_clock::now();
    ema_->copy_to(ema_net_->parameters());
    std::vector<Tensor> pieces;
    {
      NoGradGuard no_grad;
      for (int64_t begin = 0; begin < o_.eval_samples; begin += 500) {
        const int64_t end = std::min(o_.eval_samples, begin + 500);
        pieces.push_back(
            generate(*ema_net_, eval_noise_.slice(0, begin, end), o_.sigma_init,
                     eval_labels_.defined() ? eval_labels_.slice(0, begin, end) : Tensor())
                .to(Device::cpu()));
      }
    }
    const MetricValues scores = scorer_->score(concat(pieces, 0));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MetricValues values = {{"iteration", static_cast<double>(steps_)},
                           {"images", static_cast<double>(images_)},
                           {"wall_s", progress.elapsed_seconds()}};
    for (const auto& [key, value] : scores) values.emplace_back("eval_" + key, value);
    values.emplace_back("eval_s", seconds);
    metrics.write(values);
    last_eval_summary_ = " | " + scorer_->summary(scores);
  }

  std::vector<Tensor> trained_parameters() const override {
    std::vector<Tensor> all = generator_params_;
    all.insert(all.end(), fake_step_params_.begin(), fake_step_params_.end());
    return all;
  }

  std::string saved_networks_text() const override {
    return fmt::format("the networks of the last good update are saved in {}", o_.out);
  }

  std::string skip_limit_message(const std::string& saved) const override {
    return fmt::format(
        "distill: {} updates in a row (up to iteration {}) had a non-finite loss or gradient "
        "(the max_consecutive_skips limit); stopping: {}. Try lower learning rates",
        consecutive_skips_, steps_, saved);
  }

  Shape sample_shape(int64_t n) const {
    Shape s = {n};
    s.insert(s.end(), model_config_.data_shape.begin(), model_config_.data_shape.end());
    return s;
  }

  int64_t elements_per_sample() const { return shape_numel(model_config_.data_shape); }

  Tensor random_labels(int64_t n) {
    return label_dim_ > 0 ? one_hot(randint(0, label_dim_, {n}, gen_).to(device_), label_dim_)
                          : Tensor();
  }

  // The Karras grid: sigma = (max^(1/rho) + (1 - u)(min^(1/rho) - max^(1/rho)))^rho with
  // u ~ U[0, u_max].
  Tensor grid_sigmas(int64_t n) {
    return karras_grid_sigmas(n, o_.sigma_min, o_.sigma_max, o_.rho, o_.u_max, gen_, DType::f32,
                              device_);
  }

  // EDM's ln sigma ~ N(p_mean, p_std^2).
  Tensor lognormal_sigmas(int64_t n) {
    return exp(randn({n}, gen_, DType::f32, device_) * o_.fake_loss.p_std + o_.fake_loss.p_mean);
  }

  Tensor generator_sigmas(int64_t n) {
    return method_.lognormal_sigma ? lognormal_sigmas(n) : grid_sigmas(n);
  }

  // A step counts as failed (skipped) when its loss or any gradient is not finite.
  bool finish_step(const Tensor& loss, const std::vector<Tensor>& params) {
    return record_step(backward_if_finite(loss, params, o_.inject_nan));
  }

  void set_fake_requires_grad(bool requires_grad) {
    fake_->set_requires_grad(requires_grad);
    if (head_) head_->set_requires_grad(requires_grad);
  }

  bool gan_active() const { return method_.gan_weight > 0 && images_ >= o_.sim_only_images; }

  void fake_step(Sums& sums) {
    const int64_t n = local_batch_;
    const Tensor labels = random_labels(n);
    Tensor x_g;
    {
      NoGradGuard no_grad;
      x_g = generate(*generator_, randn(sample_shape(n), gen_, DType::f32, device_), o_.sigma_init,
                     labels);
    }
    adam_f_->zero_grad();
    if (adam_head_) adam_head_->zero_grad();
    // Diff-Instruct queries the fake score at log-normal noise levels: train it there too.
    const Tensor fake_sigma = o_.fake_sigma == SigmaSampling::grid && !method_.lognormal_sigma
                                  ? grid_sigmas(n)
                                  : lognormal_sigmas(n);
    Tensor loss = mean(edm_loss_at(*fake_, x_g, labels, fake_sigma, gen_));
    sums.fake += loss.item();
    if (method_.needs_discriminator()) {
      const Batch real = data_->next_batch(n);
      const Tensor real_labels =
          label_dim_ > 0 ? one_hot(real.labels.to(device_), label_dim_) : Tensor();
      const Tensor sigma =
          o_.discriminator_sigma == SigmaSampling::grid ? grid_sigmas(n) : lognormal_sigmas(n);
      const Tensor noise = randn(sample_shape(n), gen_, DType::f32, device_);
      const Tensor disc = mean(discriminator_loss(
          *fake_, real.x.to(device_), real_labels, x_g, labels, sigma, noise,
          o_.discriminator_sigma_weighting == SigmaWeighting::lambda, head_.get()));
      sums.disc += disc.item();
      // The EDM loss sums over each sample's elements; the BCE is per sample. Scaled by the
      // element count the two compete (unscaled, Adam all but ignores the discriminator on images).
      loss = loss + disc * (o_.discriminator_weight * elements_per_sample());
    }
    ++sums.fake_count;
    if (!finish_step(loss, fake_step_params_)) return;
    // From the first step, not only once the GAN term starts: switching clipping on mid-run
    // leaves Adam's second moment scaled to the unclipped gradients, which shrinks the fake
    // network's steps by orders of magnitude (it then stops tracking the generator).
    if (method_.gan_weight > 0 && o_.fake_grad_clip > 0)
      nn::clip_grad_norm(fake_step_params_, o_.fake_grad_clip);
    adam_f_->step();
    if (adam_head_) adam_head_->step();
  }

  void generator_step(Sums& sums) {
    const int64_t n = local_batch_;
    const bool sim_only = images_ < o_.sim_only_images;
    const Tensor labels = random_labels(n);
    set_fake_requires_grad(false);  // frozen here: gradients flow through its input only
    const Tensor x_g = generate(*generator_, randn(sample_shape(n), gen_, DType::f32, device_),
                                o_.sigma_init, labels);
    const Tensor sigma = generator_sigmas(n);
    const Tensor x_t = x_g + randn(sample_shape(n), gen_, DType::f32, device_) *
                                 sigma.reshape(per_sample_shape(x_g));
    GeneratorStep step{x_g,
                       x_t,
                       teacher_.net->forward(x_t, sigma, labels),
                       fake_->forward(x_t, sigma, labels),
                       Tensor(),
                       sigma};
    if ((method_.uses_ratio && !sim_only) || gan_active()) {
      step.logit = discriminator_logit(*fake_, x_t, sigma, labels, head_.get());
      if (measure_ratio_gradient_) {
        // Once per log interval (one extra backward pass through the encoder): how well the
        // discriminator's input-gradient, which the default ratio gradient relies on, agrees with
        // the denoisers' closed form.
        add_agreement(ratio_gradient_agreement(step.logit, x_t, step.d_p, step.d_q, sigma), sums);
        measure_ratio_gradient_ = false;
      }
    }
    const GeneratorLoss parts = generator_loss(method_, step, sim_only);
    sums.score += mean(parts.score).item() / static_cast<double>(elements_per_sample());
    sums.ratio += parts.mean_ratio;
    if (parts.gan.defined()) sums.gan += mean(parts.gan).item();
    Tensor regression;
    if (method_.regression_weight > 0) {
      const Tensor pick = randint(0, regression_noise_.size(0), {n}, gen_).to(device_);
      const Tensor prediction = generate(
          *generator_, index_select(regression_noise_, 0, pick), o_.sigma_init,
          regression_labels_.defined() ? index_select(regression_labels_, 0, pick) : Tensor());
      regression = mse_loss(prediction, index_select(regression_targets_, 0, pick));
      sums.regression += regression.item();
    }
    const Tensor loss =
        generator_objective(method_, parts, o_.score_scale, elements_per_sample(), regression);
    ++sums.gen_count;
    adam_g_->zero_grad();
    const bool ok = finish_step(loss, generator_params_);
    set_fake_requires_grad(true);
    if (!ok) return;
    adam_g_->step();
    ema_->update(nn::ExponentialMovingAverage::decay_for_half_life(
        o_.ema_halflife_images, static_cast<double>(o_.batch), static_cast<double>(images_),
        o_.ema_rampup));
  }

  static void add_agreement(const RatioGradientAgreement& agreement, Sums& sums) {
    for (size_t i = 0; i < agreement.sigma.size(); ++i) {
      if (!std::isfinite(agreement.cosine[i]) || !std::isfinite(agreement.norm_ratio[i])) continue;
      int band = 0;
      while (agreement.sigma[i] >= kBandEdges[band]) ++band;
      sums.grad_cosine[band] += agreement.cosine[i];
      sums.grad_norm_ratio[band] += agreement.norm_ratio[i];
      ++sums.grad_count[band];
    }
  }

  void iteration(Sums& sums) {
    for (int64_t k = 0; k < method_.fake_steps; ++k) fake_step(sums);
    if (images_ >= o_.generator_warmup_images) generator_step(sums);
    images_ += o_.batch;
    ++steps_;
  }

  void train_step() override { iteration(sums_); }

  // DMD's regression targets: teacher ODE solutions (Heun) from fixed noise, deterministic in
  // the seed, so a resumed run rebuilds the same pairs.
  void make_regression_pairs() {
    Rng pair_gen(stream_seed(o_.seed, 5));
    const int64_t n = o_.regression_pairs;
    regression_noise_ = randn(sample_shape(n), pair_gen, DType::f32, device_);
    regression_labels_ =
        label_dim_ > 0 ? one_hot(randint(0, label_dim_, {n}, pair_gen).to(device_), label_dim_)
                       : Tensor();
    SamplerOptions sampler;
    sampler.steps = o_.regression_steps;
    std::vector<Tensor> pieces;
    for (int64_t begin = 0; begin < n; begin += 256) {
      const int64_t end = std::min(n, begin + 256);
      const Tensor labels =
          regression_labels_.defined() ? regression_labels_.slice(0, begin, end) : Tensor();
      const auto denoise = [&](const Tensor& x, double s) {
        return teacher_.net->forward(x, s, labels);
      };
      pieces.push_back(edm_sample(denoise, regression_noise_.slice(0, begin, end), sampler));
    }
    regression_targets_ = concat(pieces, 0);
  }

  void save_checkpoint() override {
    ema_->copy_to(ema_net_->parameters());
    save_denoiser(join_path(o_.out, "generator.safetensors"), *ema_net_, model_config_,
                  {{"images", std::to_string(images_)}, {"method", method_.describe()}});
    save_state(o_.out, "onestep-distill-state", o_.to_json());
  }

  std::vector<StatePart> state_parts() override {
    std::vector<StatePart> parts = {module_part("generator", *generator_),
                                    module_part("fake", *fake_)};
    // Saved with a learned head or without: a resume must be set up the same way.
    parts.push_back(
        {"discriminator_head", false,
         [this] { return head_ ? head_->state_dict() : nn::NamedTensors{}; },
         [this](const nn::NamedTensors& saved) {
           ONESTEP_CHECK(saved.empty() == !head_,
                         "the state was saved {} a learned discriminator head, this "
                         "run is set up {} one (discriminator_head {}); resume with "
                         "the setting the run was started with",
                         saved.empty() ? "without" : "with", head_ ? "with" : "without",
                         o_.discriminator_head == DiscriminatorLogit::learned ? "learned" : "mean");
           if (head_) head_->load_state_dict(saved);
         }});
    parts.push_back(stateful_part("adam_generator", *adam_g_));
    parts.push_back(stateful_part("adam_fake", *adam_f_));
    if (adam_head_) parts.push_back(stateful_part("adam_discriminator_head", *adam_head_));
    parts.push_back(stateful_part("ema", *ema_));
    parts.push_back(progress_part());
    parts.push_back(rng_part("rng", gen_));
    if (data_) parts.push_back(data_part("data", *data_));
    return parts;
  }

  void load_state() {
    restore_state(o_.out, "distill", "onestep-distill-state", "a distillation state");
  }

  void write_preview() override {
    ema_->copy_to(ema_net_->parameters());
    Rng preview_gen(stream_seed(o_.seed, 4));
    const int64_t n = o_.preview_samples;
    const Tensor labels =
        label_dim_ > 0 ? one_hot(randint(0, label_dim_, {n}, preview_gen).to(device_), label_dim_)
                       : Tensor();
    Tensor samples;
    {
      NoGradGuard no_grad;
      samples = generate(*ema_net_, randn(sample_shape(n), preview_gen, DType::f32, device_),
                         o_.sigma_init, labels);
    }
    const std::string path = join_path(o_.out, "samples.png");
    if (model_config_.data_shape.size() == 1) {
      write_scatter_png(path, samples,
                        data_ ? data_->reference_sample(n, preview_gen).x : Tensor());
    } else {
      write_image_grid(path, samples);
    }
  }

  DistillOptions o_;
  Method method_;
  LoadedDenoiser teacher_;
  ModelConfig model_config_;
  Device device_;
  int64_t local_batch_;  // this rank's rows of the global batch o_.batch
  Rng gen_;
  int64_t label_dim_ = 0;
  std::shared_ptr<EdmPrecond> generator_, fake_, ema_net_;
  std::shared_ptr<DiscriminatorHead> head_;  // with --disc-head learned
  std::unique_ptr<DataSource> data_;
  std::vector<Tensor> generator_params_, fake_params_;
  std::vector<Tensor> fake_step_params_;  // the fake network's and, if any, the head's
  std::unique_ptr<nn::Adam> adam_g_, adam_f_;
  std::unique_ptr<nn::Adam> adam_head_;  // the learned head's, at its own learning rate
  std::unique_ptr<nn::ExponentialMovingAverage> ema_;
  Tensor regression_noise_, regression_labels_, regression_targets_;
  std::unique_ptr<SampleScorer> scorer_;  // with --eval-every
  Tensor eval_noise_, eval_labels_;
  std::string last_eval_summary_;
  Sums sums_;                                            // of this log interval
  double last_generator_loss_ = 0, last_fake_loss_ = 0;  // of the last log interval
  bool measure_ratio_gradient_ = true;                   // at the next generator step with a logit
};

namespace {
// A run with the teacher and data distill() uses: options.teacher, and --data or the teacher's.
std::unique_ptr<DistillRun> start_run(const DistillOptions& options, bool resume) {
  LoadedDenoiser teacher = load_denoiser(options.teacher);
  std::unique_ptr<DataSource> data = open_distill_data(options, teacher.config);
  return std::make_unique<DistillRun>(options, std::move(teacher), std::move(data), resume);
}
}  // namespace

DistillTraining::DistillTraining(const DistillOptions& options, LoadedDenoiser teacher,
                                 std::unique_ptr<DataSource> data)
    : SteppedTraining(std::make_unique<DistillRun>(validated(options), std::move(teacher),
                                                   std::move(data), false)) {}

DistillTraining::DistillTraining(const DistillOptions& options)
    : SteppedTraining(start_run(validated(options), false)) {}

DistillTraining::~DistillTraining() = default;

const EdmPrecond& DistillTraining::generator() const {
  return loop_as<DistillRun>().generator();
}

void check_distill_options(const DistillOptions& options, bool resume) {
  options.validate();
  check_run_directory(options.out, resume, "distill");
  std::error_code error;
  ONESTEP_CHECK(std::filesystem::is_regular_file(options.teacher, error),
                "distill: teacher {} does not exist or is not a file", options.teacher);
  // Read in full now, so that a file that is not a teacher is refused before the run folder
  // exists (the run loads it again; a second read of a checkpoint is cheap next to a run).
  try {
    load_denoiser(options.teacher);
  } catch (const Error& e) {
    ONESTEP_FAIL("distill: teacher {} is not a network onestep can load: {}", options.teacher,
                 e.what());
  }
  if (!options.data.empty()) describe_dataset(options.data);
  local_batch(options.batch, "distill");
  ONESTEP_CHECK(options.eval_every_images == 0 || options.eval_features.empty() ||
                    options.eval_features == kBuiltinFeatureNet ||
                    std::filesystem::is_regular_file(options.eval_features, error),
                "distill: eval_features {} does not exist or is not a file", options.eval_features);
  rank_device(options.device);
}

DistillResult distill(const DistillOptions& options, bool resume) {
  return start_and_run(options, resume, "distill", [&] { return start_run(options, resume); });
}

}  // namespace onestep::distill
