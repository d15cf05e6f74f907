// The teacher training loop.

#include "onestep/diffusion/teacher.h"

#include <cmath>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/sampler.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"
#include "onestep/nn/ema.h"
#include "onestep/nn/grad_utils.h"
#include "onestep/nn/optimizer.h"
#include "onestep/nn/safetensors.h"
#include "onestep/run/run.h"
#include "onestep/run/training_loop.h"
#include "onestep/run/training_state.h"

namespace onestep::diffusion {

// The training-run skeleton this run is built on (onestep/run).
using namespace run;

namespace {

// Fills the model fields that depend on the data.
ModelConfig resolve_model(const TeacherOptions& o, const DatasetInfo& info) {
  ModelConfig m = o.model;
  ONESTEP_CHECK(!o.cond || info.num_classes > 0,
                "teacher: cond needs labelled data, and {} has no labels", o.data);
  const int64_t label_dim = o.cond ? info.num_classes : 0;
  m.data_spec = o.data;
  if (info.is_2d) {
    ONESTEP_CHECK(m.arch == NetworkArch::mlp,
                  "teacher: 2-D data ({}) needs the MLP network (arch mlp, as the toy preset has)",
                  o.data);
    m.mlp.dim = 2;
    m.mlp.label_dim = label_dim;
    m.data_shape = {2};
  } else {
    ONESTEP_CHECK(m.arch != NetworkArch::mlp,
                  "teacher: image data ({}) needs a U-Net (arch songunet or dhariwalunet)", o.data);
    ONESTEP_CHECK(info.height == info.width, "teacher: the U-Nets need square images, {} has {}x{}",
                  o.data, info.height, info.width);
    m.unet.img_resolution = info.height;
    m.unet.in_channels = m.unet.out_channels = info.channels;
    m.unet.label_dim = label_dim;
    if (m.arch == NetworkArch::dhariwalunet) {
      // The teacher's network flags fill the SongUNet fields; ADM takes the ones it shares.
      nn::DhariwalUNetConfig& a = m.adm;
      a.img_resolution = m.unet.img_resolution;
      a.in_channels = m.unet.in_channels;
      a.out_channels = m.unet.out_channels;
      a.label_dim = label_dim;
      a.model_channels = m.unet.model_channels;
      a.channel_mult = m.unet.channel_mult;
      a.channel_mult_emb = m.unet.channel_mult_emb;
      a.num_blocks = m.unet.num_blocks;
      a.attn_resolutions = m.unet.attn_resolutions;
      a.dropout = m.unet.dropout;
    }
    m.data_shape = {info.channels, info.height, info.width};
  }
  m.source = fmt::format("onestep teacher, preset '{}', data {}", o.preset, o.data);
  return m;
}

std::unique_ptr<DataSource> open_teacher_data(const TeacherOptions& o) {
  return open_dataset(o.data, DataOptions{stream_seed(o.seed, 0), o.hflip, false});
}

}  // namespace

class TeacherRun : public TrainingLoop {
 public:
  TeacherRun(const TeacherOptions& options, std::unique_ptr<DataSource> data, bool resume)
      : o_(options),
        data_(shard_for_this_rank(std::move(data))),
        model_config_(resolve_model(o_, data_->info())),
        device_(rank_device(o_.device)),
        local_batch_(local_batch(o_.batch, "teacher")),
        loss_gen_(stream_seed(o_.seed, 1)),
        dropout_gen_(stream_seed(o_.seed, 2)) {
    // Data parallel: each rank draws its rows of every batch-sized draw (noise levels, noise,
    // dropout masks); the weights' initialisation is drawn whole on every rank.
    shard_by_rank(loss_gen_);
    shard_by_rank(dropout_gen_);
    Rng init_gen(stream_seed(o_.seed, 3));
    net_ = build_denoiser(model_config_, init_gen);
    ema_net_ = build_denoiser(model_config_, init_gen);
    net_->to(device_);
    ema_net_->to(device_);
    ema_net_->copy_state_from(*net_);
    ema_net_->set_requires_grad(false);
    ema_net_->eval();
    o_.model = model_config_;  // config.json records the network as built
    params_ = net_->parameters();
    adam_ = std::make_unique<nn::Adam>(
        params_, nn::AdamOptions{o_.lr, o_.beta1, o_.beta2, o_.adam_eps, 0.0});
    ema_ = std::make_unique<nn::ExponentialMovingAverage>(params_);
    if (resume) load_state();
  }

  const TeacherOptions& options() const { return o_; }
  const EdmPrecond& network() const { return *net_; }

  TeacherResult run() {
    const MatmulPrecisionScope precision(o_.precision);
    net_->train();
    const TrainingOutcome outcome = run_loop(schedule_of(o_, "teacher", device_));
    return TeacherResult{outcome, last_loss_};
  }

 private:
  void log_interval(MetricsLog& metrics, Progress& progress) override {
    const double elapsed = progress.elapsed_seconds();
    const double rate = images_rate(elapsed);
    const double mean_loss =
        interval_steps_ ? interval_loss_ / static_cast<double>(interval_steps_) : NAN;
    metrics.write(
        {{"step", static_cast<double>(steps_)},
         {"images", static_cast<double>(images_)},
         {"loss", mean_loss},
         {"lr", adam_->learning_rate()},
         {"images_per_s", rate},
         {"skipped_steps", static_cast<double>(skipped_total_)},
         {"peak_memory_bytes", static_cast<double>(memory_stats(device_).peak_allocated_bytes)},
         {"wall_s", elapsed}});
    progress.update(static_cast<double>(images_) / static_cast<double>(o_.total_images),
                    static_cast<double>(o_.total_images - images_) / std::max(rate, 1e-9),
                    fmt::format("step {} | {} images | loss {:.4f} | {:.1f} img/s", steps_, images_,
                                mean_loss, rate));
    interval_loss_ = 0;
    interval_steps_ = 0;
  }

  std::vector<Tensor> trained_parameters() const override { return params_; }

  std::string saved_networks_text() const override {
    return fmt::format("the networks of the last good step ({}) are saved in {}",
                       steps_ - consecutive_skips_, o_.out);
  }

  std::string skip_limit_message(const std::string& saved) const override {
    return fmt::format(
        "teacher: {} had a non-finite loss or gradient (the max_consecutive_skips limit); "
        "stopping: {}. Try a lower learning rate or a grad_clip",
        describe_skipped_run("step", steps_, consecutive_skips_), saved);
  }

  void train_step() override {
    const double loss = optimizer_step();
    if (std::isfinite(loss)) {
      interval_loss_ += loss;
      ++interval_steps_;
      last_loss_ = loss;
    }
  }

  double optimizer_step() {
    const Batch batch = data_->next_batch(local_batch_);
    const Tensor x = batch.x.to(device_);
    const Tensor labels =
        o_.cond ? one_hot(batch.labels.to(device_), data_->info().num_classes) : Tensor();
    if (o_.lr_warmup_images > 0)
      adam_->set_learning_rate(
          o_.lr *
          std::min(static_cast<double>(images_) / static_cast<double>(o_.lr_warmup_images), 1.0));
    adam_->zero_grad();
    const Tensor loss = mean(edm_loss(*net_, x, labels, loss_gen_, o_.loss, &dropout_gen_));
    double value = 0;
    const bool taken = backward_if_finite(loss, params_, o_.inject_nan, &value);
    const int64_t seen_before = images_;
    images_ += o_.batch;
    ++steps_;
    if (!record_step(taken)) return NAN;
    if (o_.grad_clip > 0) nn::clip_grad_norm(params_, o_.grad_clip);
    adam_->step();
    ema_->update(nn::ExponentialMovingAverage::decay_for_half_life(
        o_.ema_halflife_images, static_cast<double>(o_.batch), static_cast<double>(seen_before),
        o_.ema_rampup));
    return value;
  }

  void save_checkpoint() override {
    ema_->copy_to(ema_net_->parameters());
    save_denoiser(join_path(o_.out, "teacher.safetensors"), *ema_net_, model_config_,
                  {{"images", std::to_string(images_)}, {"steps", std::to_string(steps_)}});
    save_state(o_.out, "onestep-teacher-state", o_.to_json());
  }

  std::vector<StatePart> state_parts() override {
    return {module_part("net", *net_),       stateful_part("adam", *adam_),
            stateful_part("ema", *ema_),     progress_part(),
            rng_part("rng.loss", loss_gen_), rng_part("rng.dropout", dropout_gen_),
            data_part("data", *data_)};
  }

  void load_state() {
    restore_state(o_.out, "teacher", "onestep-teacher-state", "a teacher training state");
  }

  void write_preview() override {
    ema_->copy_to(ema_net_->parameters());
    Rng gen(stream_seed(o_.seed, 4));
    const DatasetInfo& info = data_->info();
    const int64_t n = o_.preview_samples;
    Shape shape = {n};
    for (int64_t s : model_config_.data_shape) shape.push_back(s);
    const Tensor latents = randn(shape, gen, DType::f32, device_);
    const Tensor labels =
        o_.cond ? one_hot(randint(0, info.num_classes, {n}, gen).to(device_), info.num_classes)
                : Tensor();
    SamplerOptions sampler;
    sampler.steps = o_.preview_steps;
    const auto denoise = [&](const Tensor& x, double sigma) {
      return ema_net_->forward(x, sigma, labels);
    };
    const Tensor samples = edm_sample(denoise, latents, sampler);
    const std::string path = join_path(o_.out, "samples.png");
    if (info.is_2d) {
      write_scatter_png(path, samples, data_->reference_sample(n, gen).x);
    } else {
      write_image_grid(path, samples);
    }
  }

  TeacherOptions o_;
  std::unique_ptr<DataSource> data_;
  ModelConfig model_config_;
  Device device_;
  int64_t local_batch_;  // this rank's rows of the global batch o_.batch
  Rng loss_gen_, dropout_gen_;
  std::shared_ptr<EdmPrecond> net_, ema_net_;
  std::vector<Tensor> params_;
  std::unique_ptr<nn::Adam> adam_;
  std::unique_ptr<nn::ExponentialMovingAverage> ema_;
  double last_loss_ = 0;  // of the last finite step
  // This invocation's logging interval.
  double interval_loss_ = 0;
  int64_t interval_steps_ = 0;
};

void check_teacher_options(const TeacherOptions& options, bool resume) {
  options.validate();
  check_run_directory(options.out, resume, "teacher");
  const ModelConfig model = resolve_model(options, describe_dataset(options.data));
  model.validate_network();
  rank_device(options.device);
  local_batch(options.batch, "teacher");
}

TeacherResult train_teacher(const TeacherOptions& options, bool resume) {
  return start_and_run(options, resume, "teacher", [&] {
    return std::make_unique<TeacherRun>(options, open_teacher_data(options), resume);
  });
}

TeacherTraining::TeacherTraining(const TeacherOptions& options)
    : TeacherTraining(options, open_teacher_data(options)) {}

TeacherTraining::TeacherTraining(const TeacherOptions& options, std::unique_ptr<DataSource> data)
    : SteppedTraining(std::make_unique<TeacherRun>(validated(options), std::move(data), false)) {}

TeacherTraining::~TeacherTraining() = default;

const EdmPrecond& TeacherTraining::network() const {
  return loop_as<TeacherRun>().network();
}

}  // namespace onestep::diffusion
