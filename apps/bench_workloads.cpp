// The workloads of `onestep bench`. Each step is the training code's step without its
// bookkeeping (loss read-backs, non-finite checks, EMA, logging), which the PyTorch reference
// leaves out too: what is timed is the network work and the optimiser.

#include "bench_workloads.h"

#include "onestep/diffusion/edm.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/diffusion/training_state.h"
#include "onestep/distill/distill.h"
#include "onestep/distill/generator_loss.h"
#include "onestep/engine.h"
#include "onestep/nn/grad_utils.h"
#include "onestep/nn/optimizer.h"

namespace onestep::app {

using diffusion::EDMPrecond;

const std::vector<std::string>& bench_config_names() {
  static const std::vector<std::string> names = {"fmnist", "fmnist-cpu", "cifar10"};
  return names;
}

const std::vector<std::string>& bench_workload_names() {
  static const std::vector<std::string> names = {"teacher", "distill", "generate"};
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

// The EDM teacher step of diffusion/src/teacher.cpp on a fixed batch.
struct TeacherStep {
  TeacherStep(const diffusion::ModelConfig& m, int64_t batch, Device device, uint64_t seed)
      : init(seed), loss_gen(seed + 1), dropout_gen(seed + 2) {
    const diffusion::TeacherOptions o;
    net = diffusion::build_denoiser(m, init);
    net->to(device);
    net->train();
    adam = std::make_unique<nn::Adam>(net->parameters(),
                                      nn::AdamOptions{1e-4, o.beta1, o.beta2, o.adam_eps, 0.0});
    x0 = rand(batch_shape(m, batch), init, DType::f32, device) * 2.0 - 1.0;
  }
  void operator()() {
    adam->zero_grad();
    mean(diffusion::edm_loss(*net, x0, Tensor(), loss_gen, {}, &dropout_gen)).backward();
    adam->step();
  }
  Generator init, loss_gen, dropout_gen;
  std::shared_ptr<EDMPrecond> net;
  std::unique_ptr<nn::Adam> adam;
  Tensor x0;
};

// One iteration of distill/src/distill.cpp (DistillRun::fake_step, then generator_step) with the
// method's own defaults (Uni-Instruct, Jeffreys, GAN weight 0.01; not the preset's recipe, whose
// learned head and regression this copy lacks) after its warm-ups, unconditional, with the
// fmnist-cpu preset's settings.
struct DistillStep {
  DistillStep(const diffusion::ModelConfig& m, int64_t batch, Device device, uint64_t seed)
      : o(distill::distill_preset("fmnist-cpu")),
        method(distill::make_method(o.method, distill::MethodOptions{})),
        init(seed),
        gen(seed + 1),
        shape(batch_shape(m, batch)),
        elements(shape_numel(m.data_shape)),
        device(device) {
    teacher = diffusion::build_denoiser(m, init);
    generator = diffusion::build_denoiser(m, init);
    fake = diffusion::build_denoiser(m, init);
    for (const auto& net : {teacher, generator, fake}) {
      net->copy_state_from(*teacher);
      net->eval();
      net->to(device);
    }
    teacher->set_requires_grad(false);
    adam_g = std::make_unique<nn::Adam>(
        generator->parameters(), nn::AdamOptions{o.lr_generator, o.beta1, o.beta2, o.adam_eps});
    adam_f = std::make_unique<nn::Adam>(fake->parameters(),
                                        nn::AdamOptions{o.lr_fake, o.beta1, o.beta2, o.adam_eps});
    real = rand(shape, init, DType::f32, device) * 2.0 - 1.0;
  }

  Tensor grid_sigmas() {
    return diffusion::karras_grid_sigmas(shape[0], o.sigma_min, o.sigma_max, o.rho, o.u_max, gen)
        .to(device);
  }

  void fake_step() {
    Tensor x_g;
    {
      NoGradGuard no_grad;
      x_g = distill::generate(*generator, randn(shape, gen, DType::f32, device), o.sigma_init,
                              Tensor());
    }
    adam_f->zero_grad();
    Tensor loss = mean(diffusion::edm_loss_at(*fake, x_g, Tensor(), grid_sigmas(), gen));
    const Tensor sigma = grid_sigmas();
    const Tensor noise = randn(shape, gen, DType::f32, device);
    const Tensor disc = mean(
        distill::discriminator_loss(*fake, real, Tensor(), x_g, Tensor(), sigma, noise, false));
    loss = loss + disc * (o.discriminator_weight * static_cast<double>(elements));
    loss.backward();
    nn::clip_grad_norm(fake->parameters(), o.fake_grad_clip);
    adam_f->step();
  }

  void generator_step() {
    fake->set_requires_grad(false);
    const Tensor x_g = distill::generate(*generator, randn(shape, gen, DType::f32, device),
                                         o.sigma_init, Tensor());
    const Tensor sigma = grid_sigmas();
    Shape per_sample(shape.size(), 1);
    per_sample[0] = shape[0];
    const Tensor x_t = x_g + randn(shape, gen, DType::f32, device) * sigma.reshape(per_sample);
    distill::GeneratorStep step{x_g,
                                x_t,
                                teacher->forward(x_t, sigma, Tensor()),
                                fake->forward(x_t, sigma, Tensor()),
                                distill::discriminator_logit(*fake, x_t, sigma, Tensor()),
                                sigma};
    const distill::GeneratorLoss parts = distill::generator_loss(method, step, false);
    const Tensor loss = distill::generator_objective(method, parts, o.score_scale, elements);
    adam_g->zero_grad();
    loss.backward();
    fake->set_requires_grad(true);
    adam_g->step();
  }

  void operator()() {
    fake_step();
    generator_step();
  }

  distill::DistillOptions o;
  distill::Method method;
  Generator init, gen;
  Shape shape;
  int64_t elements;
  Device device;
  std::shared_ptr<EDMPrecond> teacher, generator, fake;
  std::unique_ptr<nn::Adam> adam_g, adam_f;
  Tensor real;
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
  Generator init, gen;
  Shape shape;
  Device device;
  std::shared_ptr<EDMPrecond> net;
  Tensor out;
};

}  // namespace

BenchWorkload make_bench_workload(const std::string& workload, const std::string& config,
                                  int64_t batch, Device device, uint64_t seed) {
  ONESTEP_CHECK(batch >= 1, "bench: --batch must be >= 1, got {}", batch);
  const diffusion::ModelConfig m = bench_model_config(config);
  BenchWorkload w;
  {
    Generator gen(seed);
    w.parameters = diffusion::build_denoiser(m, gen)->num_parameters();
  }
  if (workload == "teacher") {
    w.step = [s = std::make_shared<TeacherStep>(m, batch, device, seed)] { (*s)(); };
  } else if (workload == "distill") {
    w.step = [s = std::make_shared<DistillStep>(m, batch, device, seed)] { (*s)(); };
  } else if (workload == "generate") {
    w.step = [s = std::make_shared<GenerateStep>(m, batch, device, seed)] { (*s)(); };
  } else {
    ONESTEP_FAIL("bench: unknown workload '{}': expected one of {}", workload,
                 fmt::join(bench_workload_names(), ", "));
  }
  return w;
}

}  // namespace onestep::app
