// `onestep eval`: metrics of generated samples, and training the feature network they use.

#include <chrono>
#include <filesystem>

#include "commands.h"
#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/feature_net.h"
#include "onestep/diffusion/image_metrics.h"
#include "onestep/diffusion/metrics2d.h"
#include "onestep/diffusion/npy.h"
#include "onestep/diffusion/sample_quality.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"
#include "onestep/run/run.h"

namespace onestep::app {

using run::file_exists;

namespace {

namespace fs = std::filesystem;
using namespace diffusion;

struct EvalFlags {
  bool train_features = false;
  std::string data = "fashion-mnist";
  std::string features = diffusion::kBuiltinFeatureNet;
  std::string samples, labels, out;
  FeatureTraining training;
  int64_t kid_subsets = 100, kid_size = 1000, projections = 256;
  uint64_t seed = 0;
};

// Samples as f32 [N, 1, 32, 32] in [-1, 1]: a uint8 NHWC .npy (28x28 or 32x32, one channel) or a
// folder of PNGs; 28x28 images are padded with background like the dataset.
Tensor load_image_samples(const std::string& path) {
  int64_t n = 0, h = 0, w = 0, c = 0;
  std::vector<uint8_t> nchw;
  if (fs::is_directory(path)) {
    ImageSet set = load_png_folder(path);
    n = set.info.size, c = set.info.channels, h = set.info.height, w = set.info.width;
    nchw = std::move(set.pixels);
  } else {
    const NpyArray array = read_npy(path);
    ONESTEP_USAGE_CHECK(
        array.descr == "|u1" && array.shape.size() == 4,
        "{}: expected uint8 images [N, H, W, C] (what onestep sample writes), got {} {}", path,
        array.descr, shape_str(array.shape));
    n = array.shape[0], h = array.shape[1], w = array.shape[2], c = array.shape[3];
    nchw.resize(array.data.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          for (int64_t k = 0; k < c; ++k)
            nchw[((i * c + k) * h + y) * w + x] = array.data[((i * h + y) * w + x) * c + k];
  }
  ONESTEP_USAGE_CHECK(n >= 2, "{}: need at least 2 images, found {}", path, n);
  ONESTEP_USAGE_CHECK(
      c == 1 && h == w && (h == 28 || h == 32),
      "{}: Fashion-MNIST metrics need one-channel 28x28 or 32x32 images, got {}x{}x{}", path, c, h,
      w);
  const int64_t pad = (32 - h) / 2;
  std::vector<float> values(static_cast<size_t>(n) * 32 * 32, -1.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        values[(i * 32 + y + pad) * 32 + x + pad] = nchw[(i * h + y) * w + x] / 127.5f - 1.0f;
  return from_vector<float>(values, {n, 1, 32, 32});
}

int evaluate_images(EvalFlags& f) {
  const Tensor images = load_image_samples(f.samples);  // bad samples are reported first
  std::map<std::string, std::string> meta;
  const auto net = load_feature_net(f.features, &meta);
  const int64_t n = images.size(0);
  const Tensor fake = compute_features(*net, images);
  const Tensor real = test_split_features(*net, f.features, f.data);
  Rng gen(f.seed);
  const double fid = frechet_distance(gaussian_stats(real), gaussian_stats(fake));
  const int64_t subset = std::min({f.kid_size, n, real.size(0)});
  const KernelDistance kid = kernel_distance(real, fake, f.kid_subsets, subset, gen);
  // Precision/recall on sets of equal size.
  const Tensor real_subset = real.slice(0, 0, std::min(n, real.size(0)));
  const PrecisionRecall pr =
      precision_recall(real_subset, fake.slice(0, 0, real_subset.size(0)), 3);
  std::string json = fmt::format(
      "{{\"samples\": \"{}\", \"n\": {}, \"reference\": \"{} test split ({} images)\", \"fid\": "
      "{:.6g}, "
      "\"kid\": {:.6g}, \"kid_se\": {:.6g}, \"precision\": {:.6g}, \"recall\": {:.6g}",
      f.samples, n, f.data, real.size(0), fid, kid.mean, kid.standard_error, pr.precision,
      pr.recall);
  fmt::print(
      "{} images from {}: FID {:.3f}, KID {:.5f} +- {:.5f}, precision {:.3f}, recall {:.3f} "
      "(features: {}, test accuracy {})\n",
      n, f.samples, fid, kid.mean, kid.standard_error, pr.precision, pr.recall, f.features,
      meta.count("accuracy") ? meta.at("accuracy") : "?");
  if (!f.labels.empty()) {
    const Tensor labels = read_labels_flag(f.labels, n);
    NoGradGuard no_grad;
    int64_t correct = 0;
    for (int64_t begin = 0; begin < n; begin += 500) {
      const int64_t end = std::min(n, begin + 500);
      const Tensor logits = net->logits(images.slice(0, begin, end));
      const Tensor predicted = sum(ge(logits, amax(logits, {1}, true)) * arange(0, 10, 1), {1});
      correct += static_cast<int64_t>(
          sum(eq(predicted.to(DType::i64), labels.slice(0, begin, end))).item());
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
    fmt::print("classifier accuracy on the requested classes: {:.4f}\n", accuracy);
    json += fmt::format(", \"class_accuracy\": {:.6g}", accuracy);
  }
  json += "}\n";
  nn::write_file_atomically(f.out, json.data(), json.size());
  return 0;
}

int evaluate_points(EvalFlags& f) {
  const Tensor samples = npy_to_tensor(read_npy(f.samples)).to(DType::f64);
  ONESTEP_USAGE_CHECK(samples.dim() == 2 && samples.size(1) == 2 && samples.size(0) >= 2,
                      "{}: 2-D metrics need points [N, 2], got {}", f.samples,
                      shape_str(samples.shape()));
  auto data = open_dataset(f.data);
  const PointScores scores = score_points(samples, *data, f.data, f.projections, f.seed);
  fmt::print("{} points from {}: ", scores.n, f.samples);
  fmt::print("{}", scores.summary(f.data));
  const std::string json = fmt::format("{{\"samples\": \"{}\", \"data\": \"{}\", {}}}\n", f.samples,
                                       f.data, scores.json_members());
  nn::write_file_atomically(f.out, json.data(), json.size());
  return 0;
}

int train_features(EvalFlags& f) {
  fmt::print("training the feature network on {} ({} epochs, seed {}, {} threads)\n", f.data,
             f.training.epochs, f.training.seed, num_threads());
  const auto start = std::chrono::steady_clock::now();
  const auto net = train_feature_net(f.data, f.training);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double accuracy = feature_net_accuracy(*net, f.data);
  fmt::print("test accuracy {:.4f} after {:.0f} s\n", accuracy, seconds);
  ONESTEP_CHECK(accuracy >= 0.91,
                "the feature network reached only {:.4f} test accuracy (need 0.91); "
                "not saved",
                accuracy);
  save_feature_net(
      f.features, *net,
      {{"accuracy", fmt::format("{:.4f}", accuracy)},
       {"data", f.data},
       {"command", fmt::format("onestep eval --train-features --data {} --epochs {} --seed {}",
                               f.data, f.training.epochs, f.training.seed)},
       {"train_seconds", fmt::format("{:.0f}", seconds)}});
  fmt::print("saved {}\n", f.features);
  return 0;
}

int run_eval(const CLI::App& cmd, EvalFlags& f) {
  const bool points = f.data.rfind("toy:", 0) == 0;
  check_flag("--data", [&] { describe_dataset(f.data); });
  if (f.train_features) {
    ONESTEP_USAGE_CHECK(f.samples.empty(), "--train-features and --samples are separate jobs");
    for (const char* flag : {"--labels", "--out", "--kid-subsets", "--kid-size", "--projections"})
      ONESTEP_USAGE_CHECK(cmd.count(flag) == 0,
                          "{} applies to scoring samples, not to "
                          "--train-features",
                          flag);
    ONESTEP_USAGE_CHECK(!points, "--train-features needs image data, not {}", f.data);
    ONESTEP_USAGE_CHECK(f.features != diffusion::kBuiltinFeatureNet,
                        "--train-features needs --features FILE, where to save the network (the "
                        "built-in one cannot be replaced)");
    ONESTEP_USAGE_CHECK(!fs::is_directory(f.features), "--features {}: is a folder, not a file",
                        f.features);
    return train_features(f);
  }
  ONESTEP_USAGE_CHECK(cmd.count("--epochs") == 0, "--epochs applies only to --train-features");
  ONESTEP_USAGE_CHECK(!f.samples.empty(), "nothing to do: pass --samples (or --train-features)");
  ONESTEP_USAGE_CHECK(file_exists(f.samples), "--samples {}: no such file or folder", f.samples);
  ONESTEP_USAGE_CHECK(f.labels.empty() || !points,
                      "--labels applies to images; {} is 2-D point data", f.data);
  ONESTEP_USAGE_CHECK(f.labels.empty() || fs::is_regular_file(f.labels),
                      "--labels {}: no such file", f.labels);
  ONESTEP_USAGE_CHECK(
      points || f.features == diffusion::kBuiltinFeatureNet || fs::is_regular_file(f.features),
      "--features {}: no such file (train one with --train-features)", f.features);
  ONESTEP_USAGE_CHECK(f.out.empty() || !fs::is_directory(f.out),
                      "--out {}: is a folder; name the JSON file to write", f.out);
  if (f.out.empty()) {
    const fs::path p(f.samples);
    f.out = (fs::is_directory(p) ? p / "metrics-eval.json" : p.parent_path() / "metrics-eval.json")
                .string();
  }
  return points ? evaluate_points(f) : evaluate_images(f);
}

}  // namespace

Run add_eval_command(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Score generated samples (FID, KID, precision/recall; 2-D metrics)");
  cmd->add_option("--samples", f->samples,
                  "samples.npy (uint8 NHWC images or float [N, 2] points) or a PNG folder");
  cmd->add_option("--data", f->data, "Reference data: fashion-mnist[:DIR] or a toy:NAME")
      ->capture_default_str();
  cmd->add_option("--features", f->features,
                  "Feature network (safetensors), or builtin: the one inside onestep")
      ->capture_default_str();
  cmd->add_option("--labels", f->labels, "int64 .npy of the classes the samples were asked for");
  cmd->add_option("--out", f->out, "Metrics JSON (default: metrics-eval.json beside the samples)");
  cmd->add_option("--kid-subsets", f->kid_subsets, "KID subsets")->check(in_range(2, 100000));
  cmd->add_option("--kid-size", f->kid_size, "KID subset size")->check(in_range(2, 100000));
  cmd->add_option("--projections", f->projections, "Sliced Wasserstein projections")
      ->check(in_range(1, 100000));
  cmd->add_option("--seed", f->seed, "Random seed of the metrics")->check(kNonNegative);
  cmd->add_flag("--train-features", f->train_features,
                "Train the feature network and save it to --features");
  cmd->add_option("--epochs", f->training.epochs, "Feature-network epochs")
      ->check(in_range(1, 1000));
  return [cmd, f] { return run_eval(*cmd, *f); };
}

}  // namespace onestep::app
