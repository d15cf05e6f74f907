// The workloads of `onestep bench`. Each step is the training code's step without its
// bookkeeping (loss read-backs, non-finite checks, EMA, logging), which the PyTorch reference
// leaves out too: what is timed is the network work and the optimiser.

#include "bench_workloads.h"

#include "onestep/diffusion/edm.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/distill/distill.h"
#include "onestep/distill/generator_loss.h"
#include "onestep/engine.h"
#include "onestep/nn/grad_utils.h"
#include "onestep/nn/optimizer.h"
#include "onestep/run/training_state.h"

namespace onestep::app {

using diffusion::EdmPrecond;

const std::vector<std::string>& bench_config_names() {
  static const std::vector<std::string> names = {"fmnist", "fmnist-cpu", "cifar10"};
  return names;
}

const std::vector<std::string>& bench_workload_names() {
  static const std::vector<std::string> names = {"teacher", "distill", "generate", "adam"};
  return names;
}

diffusion::ModelConfig bench_model_config(const std::string& config) {
  ONESTEP_CHECK(config == "fmnist" || config == "fmnist-cpu" || config == "cifar10",
                "bench: unknown config '{}': expected one of {}", config,
                fmt::join(bench_config_names(), ", "));
  diffusion::ModelConfig m = diffusion::teacher_preset(config).model;
  const int64_t channels = config == "cifar10" ? 3 : 1;
  m.unet.img_resolution = 32;
  m.unet.in_channels = m.unet.out_channels = channels;
  m.data_shape = {channels, 32, 32};
  return m;
}

namespace {

Shape batch_shape(const diffusion::ModelConfig& m, int64_t batch) {
  Shape s = {batch};
  s.insert(s.end(), m.data_shape.begin(), m.data_shape.end());
  return s;
}

// 256 images of uniform random pixels of the network's shape: the data of the training steps.
std::unique_ptr<diffusion::DataSource> random_images(const diffusion::ModelConfig& m, Rng& gen) {
  diffusion::ImageSet set;
  set.info.size = 256;
  set.info.channels = m.data_shape[0];
  set.info.height = m.data_shape[1];
  set.info.width = m.data_shape[2];
  const Tensor pixels = randint(0, 256, {set.info.size * shape_numel(m.data_shape)}, gen);
  for (int64_t v : pixels.to_vector<int64_t>()) set.pixels.push_back(static_cast<uint8_t>(v));
  return diffusion::make_image_source(std::move(set));
}

// The library's own teacher step (diffusion::TeacherTraining: what `onestep teacher` runs, with
// its learning-rate warm-up, non-finite check, Adam and EMA update) on random images, with the
// config's preset settings.
struct TeacherStep {
  TeacherStep(const std::string& config, const diffusion::ModelConfig& m, int64_t batch,
              Device device, uint64_t seed) {
    diffusion::TeacherOptions o = diffusion::teacher_preset(config);
    o.model = m;
    o.batch = batch;
    o.seed = seed;
    o.device = device;
    o.preview_samples = 0;
    Rng data_gen(seed);
    training = std::make_unique<diffusion::TeacherTraining>(o, random_images(m, data_gen));
  }
  void operator()() { training->step(); }
  std::unique_ptr<diffusion::TeacherTraining> training;
};

// The library's own distillation iteration (distill::DistillTraining: fake step, generator step,
// their non-finite checks and the EMA update) on a random teacher and random real images, with
// the fmnist-cpu preset's settings and the method's own defaults (Uni-Instruct, Jeffreys, GAN
// weight 0.01, the bottleneck mean as discriminator: what bench/torch_reference.py does; the
// preset's recipe adds a learned head and a regression term), after the warm-up phases.
struct DistillStep {
  DistillStep(const diffusion::ModelConfig& m, int64_t batch, Device device, uint64_t seed) {
    distill::DistillOptions o = distill::distill_preset("fmnist-cpu");
    o.method_options = distill::MethodOptions{};
    o.discriminator_head = distill::DiscriminatorLogit::mean;
    o.generator_warmup_images = 0;
    o.sim_only_images = 0;
    o.batch = batch;
    o.seed = seed;
    o.device = device;
    o.preview_samples = 0;
    o.eval_every_images = 0;
    Rng init(seed);
    diffusion::LoadedDenoiser teacher{m, diffusion::build_denoiser(m, init), {}};
    training =
        std::make_unique<distill::DistillTraining>(o, std::move(teacher), random_images(m, init));
  }

  void operator()() { training->step(); }

  std::unique_ptr<distill::DistillTraining> training;
};

struct GenerateStep {
  GenerateStep(const diffusion::ModelConfig& m, int64_t batch, Device device, uint64_t seed)
      : init(seed), gen(seed + 1), shape(batch_shape(m, batch)), device(device) {
    net = diffusion::build_denoiser(m, init);
    net->to(device);
    net->eval();
    net->set_requires_grad(false);
  }
  void operator()() {
    NoGradGuard no_grad;
    out = distill::generate(*net, randn(shape, gen, DType::f32, device), 2.5, Tensor());
  }
  Rng init, gen;
  Shape shape;
  Device device;
  std::shared_ptr<EdmPrecond> net;
  Tensor out;
};

// The teacher's optimizer step alone (nn::Adam, the teacher preset's betas) on fixed random
// gradients: what the fused update costs next to PyTorch's Adam.
struct AdamStep {
  AdamStep(const diffusion::ModelConfig& m, Device device, uint64_t seed) : init(seed) {
    const diffusion::TeacherOptions o;
    net = diffusion::build_denoiser(m, init);
    net->to(device);
    for (const Tensor& p : net->parameters())
      p.set_grad(randn(p.shape(), init, p.dtype(), device) * 1e-2);
    adam = std::make_unique<nn::Adam>(net->parameters(),
                                      nn::AdamOptions{1e-4, o.beta1, o.beta2, o.adam_eps, 0.0});
  }
  void operator()() { adam->step(); }
  Rng init;
  std::shared_ptr<EdmPrecond> net;
  std::unique_ptr<nn::Adam> adam;
};

}  // namespace

BenchWorkload make_bench_workload(const std::string& workload, const std::string& config,
                                  int64_t batch, Device device, uint64_t seed) {
  ONESTEP_CHECK(batch >= 1, "bench: --batch must be >= 1, got {}", batch);
  const diffusion::ModelConfig m = bench_model_config(config);
  BenchWorkload w;
  {
    Rng gen(seed);
    w.parameters = diffusion::build_denoiser(m, gen)->num_parameters();
  }
  if (workload == "teacher") {
    w.step = [s = std::make_shared<TeacherStep>(config, m, batch, device, seed)] { (*s)(); };
  } else if (workload == "distill") {
    w.step = [s = std::make_shared<DistillStep>(m, batch, device, seed)] { (*s)(); };
  } else if (workload == "generate") {
    w.step = [s = std::make_shared<GenerateStep>(m, batch, device, seed)] { (*s)(); };
  } else if (workload == "adam") {
    w.step = [s = std::make_shared<AdamStep>(m, device, seed)] { (*s)(); };
  } else {
    ONESTEP_FAIL("bench: unknown workload '{}': expected one of {}", workload,
                 fmt::join(bench_workload_names(), ", "));
  }
  return w;
}

}  // namespace onestep::app
