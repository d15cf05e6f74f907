// `onestep sample`: generate with a saved model (EDM Heun/Euler for teachers).

#include <chrono>
#include <filesystem>

#include "commands.h"
#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/edm.h"
#include "onestep/diffusion/image_folder.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/metrics2d.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/diffusion/npy.h"
#include "onestep/diffusion/sampler.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"
#include "onestep/run/run.h"

namespace onestep::app {

namespace {

struct SampleFlags {
  std::string model, out, noise, labels, png_dir, png_zip, sampler = "heun", data, device = "cpu",
                                                           precision = "fp32";
  int64_t n = 64, batch = 256, label = -1, columns = 0, projections = 256;
  uint64_t seed = 0;
  diffusion::SamplerOptions options;
};

// --labels FILE: int64 [N] classes in [0, label_dim), N = `count` unless it is -1.
Tensor read_classes(const std::string& path, int64_t count, int64_t label_dim) {
  const Tensor classes = read_labels_flag(path, count);
  const int64_t low = static_cast<int64_t>(amin(classes).item());
  const int64_t high = static_cast<int64_t>(amax(classes).item());
  ONESTEP_USAGE_CHECK(low >= 0 && high < label_dim,
                      "--labels {}: classes must be in [0, {}), the file has {} to {}", path,
                      label_dim, low, high);
  return classes;
}

int run_sample(const CLI::App& cmd, SampleFlags& f) {
  ONESTEP_USAGE_CHECK(f.noise.empty() || cmd.count("--n") == 0,
                      "--n and --noise conflict: the sample count is the number of latents in {}",
                      f.noise);
  ONESTEP_USAGE_CHECK(f.labels.empty() || cmd.count("--class") == 0,
                      "--labels and --class conflict: --labels gives each sample its class");
  ONESTEP_USAGE_CHECK(f.labels.empty() || !f.noise.empty() || cmd.count("--n") == 0,
                      "--n and --labels conflict: the sample count is the number of labels in {}",
                      f.labels);
  if (!f.out.empty()) check_output_folder("--out", f.out);
  if (!f.png_dir.empty()) check_output_folder("--png-dir", f.png_dir);
  if (!f.png_zip.empty()) {
    const std::filesystem::path parent =
        std::filesystem::absolute(f.png_zip).parent_path();
    ONESTEP_USAGE_CHECK(std::filesystem::is_directory(parent) &&
                            !std::filesystem::is_directory(f.png_zip),
                        "--png-zip {}: must name a file in an existing folder", f.png_zip);
  }
  Device device;
  check_flags(cmd, [&] {
    f.options.method = diffusion::parse_sampler_method(f.sampler);
    f.options.validate();
  });
  device = check_device_flag(f.device);
  if (!f.data.empty()) check_flag("--data", [&] { diffusion::describe_dataset(f.data); });
  const diffusion::LoadedDenoiser loaded = diffusion::load_denoiser(f.model);
  loaded.net->to(device);
  const diffusion::ModelConfig& config = loaded.config;
  const int64_t label_dim = config.label_dim();
  ONESTEP_CHECK(!config.data_shape.empty(), "{}: the model config has no data shape", f.model);
  ONESTEP_USAGE_CHECK(cmd.count("--class") == 0 || label_dim > 0,
                      "--class given, but {} is unconditional", f.model);
  ONESTEP_USAGE_CHECK(f.labels.empty() || label_dim > 0, "--labels given, but {} is unconditional",
                      f.model);
  ONESTEP_USAGE_CHECK((f.png_dir.empty() && f.png_zip.empty()) || config.data_shape.size() == 3,
                      "--png-dir and --png-zip write images; {} generates 2-D points", f.model);
  ONESTEP_USAGE_CHECK(f.label < label_dim || label_dim == 0,
                      "--class {} is out of range: the model has {} classes", f.label, label_dim);
  if (f.out.empty())
    f.out = run::join_path(std::filesystem::path(f.model).parent_path().string(), "samples");

  Rng gen(f.seed);
  Shape shape = {f.n};
  shape.insert(shape.end(), config.data_shape.begin(), config.data_shape.end());
  Tensor latents;
  if (!f.noise.empty()) {
    latents = diffusion::npy_to_tensor(diffusion::read_npy(f.noise)).to(DType::f32);
    Shape expected = latents.shape();
    ONESTEP_CHECK(latents.dim() == static_cast<int64_t>(shape.size()) &&
                      Shape(expected.begin() + 1, expected.end()) == config.data_shape,
                  "--noise {}: shape {} does not match the model's samples [N, {}]", f.noise,
                  shape_str(latents.shape()), fmt::join(config.data_shape, ", "));
    f.n = latents.size(0);
  } else if (f.labels.empty()) {
    latents = randn(shape, gen);
  }
  Tensor labels, classes;
  if (!f.labels.empty()) {
    classes = read_classes(f.labels, f.noise.empty() ? -1 : f.n, label_dim);
    if (f.noise.empty()) {
      f.n = classes.size(0);
      shape[0] = f.n;
      latents = randn(shape, gen);
    }
  } else if (label_dim > 0) {
    classes = f.label >= 0 ? full({f.n}, static_cast<double>(f.label), DType::i64)
                           : randint(0, label_dim, {f.n}, gen);
  }
  if (classes.defined()) labels = diffusion::one_hot(classes, label_dim);

  const MatmulPrecision matmul = parse_matmul_precision(f.precision);
  const bool one_step = config.one_step_sigma > 0;
  if (one_step) {
    fmt::print(
        "onestep sample: {} ({} one-step generator), {} samples, 1 network evaluation each{}\n",
        f.model, diffusion::arch_name(config.arch), f.n, precision_suffix(matmul, device));
  } else {
    fmt::print("onestep sample: {} ({}), {} samples, {} {} steps ({} network evaluations each){}\n",
               f.model, diffusion::arch_name(config.arch), f.n, f.sampler, f.options.steps,
               diffusion::sampler_nfe(f.options), precision_suffix(matmul, device));
  }
  const MatmulPrecisionScope precision(matmul);
  const auto start = std::chrono::steady_clock::now();
  std::vector<Tensor> pieces;
  for (int64_t begin = 0; begin < f.n; begin += f.batch) {
    const int64_t end = std::min(f.n, begin + f.batch);
    // Latents and labels are drawn on the host, so a seed gives the same samples on any device.
    const Tensor batch_labels =
        labels.defined() ? labels.slice(0, begin, end).to(device) : Tensor();
    const auto denoise = [&](const Tensor& x, double sigma) {
      return loaded.net->forward(x, sigma, batch_labels);
    };
    const Tensor z = latents.slice(0, begin, end).to(device);
    if (one_step) {
      NoGradGuard no_grad;  // x = D(sigma z; sigma): one network evaluation
      pieces.push_back(denoise(z * config.one_step_sigma, config.one_step_sigma).to(Device::cpu()));
    } else {
      pieces.push_back(diffusion::edm_sample(denoise, z, f.options).to(Device::cpu()));
    }
  }
  const Tensor samples = concat(pieces, 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  run::ensure_directory(f.out);
  const std::string npy = run::join_path(f.out, "samples.npy");
  const std::string png = run::join_path(f.out, "samples.png");
  const bool points = config.data_shape.size() == 1;
  fmt::print("generated in {:.2f} s ({:.1f} samples/s)\n", seconds,
             static_cast<double>(f.n) / seconds);
  if (points) {
    diffusion::write_npy(npy, samples.to(DType::f32));
    const std::string spec = f.data.empty() ? config.data_spec : f.data;
    Tensor reference;
    if (!spec.empty()) {
      auto data = diffusion::open_dataset(spec);
      const diffusion::PointScores scores =
          diffusion::score_points(samples, *data, spec, f.projections, f.seed + 1);
      reference = scores.reference;
      fmt::print("{}", scores.summary(spec));
      const std::string json = fmt::format(
          "{{\"data\": \"{}\", {}, \"nfe\": {}, \"seconds\": {:.6g}}}\n", spec,
          scores.json_members(), one_step ? 1 : diffusion::sampler_nfe(f.options), seconds);
      nn::write_file_atomically(run::join_path(f.out, "metrics.json"), json.data(), json.size());
    }
    diffusion::write_scatter_png(png, samples, reference);
  } else {
    const std::vector<uint8_t> pixels = diffusion::to_uint8_nhwc(samples);
    const Shape nhwc = {f.n, config.data_shape[1], config.data_shape[2], config.data_shape[0]};
    diffusion::write_npy(npy, "|u1", nhwc, pixels.data());
    // The requested classes, for `onestep eval --labels`.
    if (classes.defined()) diffusion::write_npy(run::join_path(f.out, "labels.npy"), classes);
    diffusion::write_image_grid(png, samples, f.columns);
    if (!f.png_dir.empty()) {
      diffusion::write_png_folder(f.png_dir, samples, classes);
      fmt::print("wrote {} PNG files to {}\n", f.n, f.png_dir);
    }
    if (!f.png_zip.empty()) {
      diffusion::write_png_zip(f.png_zip, samples, classes);
      fmt::print("wrote {} PNG files into {}\n", f.n, f.png_zip);
    }
  }
  fmt::print("wrote {} and {}\n", npy, png);
  return 0;
}

}  // namespace

Run add_sample_command(CLI::App& app) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* cmd = app.add_subcommand("sample", "Generate samples from a saved model");
  cmd->add_option("--model", f->model, "Model checkpoint (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", f->out, "Output directory (default: samples/ beside the model)");
  add_checked_option(*cmd, "--n", f->n, "Number of samples", in_range(1, 100000000));
  add_checked_option(*cmd, "--batch", f->batch, "Samples per network call", in_range(1, 1048576));
  add_checked_option(*cmd, "--steps", f->options.steps, "Sampler steps", in_range(1, 100000));
  add_checked_option(*cmd, "--sampler", f->sampler, "heun or euler", member_of({"heun", "euler"}));
  add_checked_option(*cmd, "--sigma-min", f->options.sigma_min, "Smallest noise level", kPositive);
  add_checked_option(*cmd, "--sigma-max", f->options.sigma_max, "Largest noise level", kPositive);
  add_checked_option(*cmd, "--rho", f->options.rho, "Noise-level schedule exponent", kPositive);
  add_checked_option(*cmd, "--seed", f->seed, "Random seed", kNonNegative);
  cmd->add_option("--device", f->device, "Where the network runs: cpu, cuda or cuda:N")
      ->capture_default_str();
  add_precision_flag(*cmd, f->precision);
  cmd->add_option("--class", f->label, "Class label for conditional models (-1: random per sample)")
      ->check(in_range(-1, 1000000));
  cmd->add_option("--noise", f->noise, "Start from these latents (.npy, [N, ...] unit-variance)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--labels", f->labels,
                  "Class of each sample (.npy, int64 [N]; with --noise, one per latent)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--png-dir", f->png_dir,
                  "Also write one PNG per sample here, named as EDM's generate.py does");
  cmd->add_option("--png-zip", f->png_zip, "Also write one PNG per sample into this zip archive");
  cmd->add_option("--data", f->data, "Reference data for 2-D metrics (default: the model's)");
  cmd->add_option("--grid-columns", f->columns, "Columns of the PNG grid (0: square)")
      ->check(kNonNegative);
  cmd->add_option("--projections", f->projections, "Projections of the sliced Wasserstein distance")
      ->check(in_range(1, 100000));
  return [cmd, f] { return run_sample(*cmd, *f); };
}

}  // namespace onestep::app
