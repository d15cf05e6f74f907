// Toy 2-D point clouds, defined exactly (docs/DATASETS.md) so that results compare across tools.
// All randomness comes from the Rng; the arithmetic runs in double on the host.

#include <cmath>

#include "onestep/engine/creation.h"
#include "sources.h"

namespace onestep::diffusion {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kStd = 0.05;                 // per-coordinate noise of every noisy toy
constexpr int64_t kToyStateTag = 0x544f5931;  // "TOY1"

// out: [n, 2] as x0 y0 x1 y1 ...; labels: the class of each point for the labelled toys (the
// mode, or the moon), untouched by the others.
void gaussians_8(int64_t n, Rng& gen, std::vector<double>& out, std::vector<int64_t>& labels) {
  const auto k = randint(0, 8, {n}, gen).to_vector<int64_t>();
  labels = k;
  const auto e = randn({n, 2}, gen, DType::f64).to_vector<double>();
  for (int64_t i = 0; i < n; ++i) {
    const double angle = 2.0 * kPi * static_cast<double>(k[i]) / 8.0;
    out[2 * i] = 2.0 * std::cos(angle) + kStd * e[2 * i];
    out[2 * i + 1] = 2.0 * std::sin(angle) + kStd * e[2 * i + 1];
  }
}

void gaussians_25(int64_t n, Rng& gen, std::vector<double>& out, std::vector<int64_t>& labels) {
  const auto k = randint(0, 25, {n}, gen).to_vector<int64_t>();
  labels = k;
  const auto e = randn({n, 2}, gen, DType::f64).to_vector<double>();
  for (int64_t i = 0; i < n; ++i) {
    out[2 * i] = static_cast<double>(k[i] / 5 - 2) + kStd * e[2 * i];
    out[2 * i + 1] = static_cast<double>(k[i] % 5 - 2) + kStd * e[2 * i + 1];
  }
}

// sklearn's make_swiss_roll in 2-D, (t cos t, t sin t), t = 1.5 pi (1 + 2u), scaled by
// 2 / (4.5 pi) so the noise-free roll spans [-2, 2] at most.
void swissroll(int64_t n, Rng& gen, std::vector<double>& out, std::vector<int64_t>&) {
  const auto u = rand({n}, gen, DType::f64).to_vector<double>();
  const auto e = randn({n, 2}, gen, DType::f64).to_vector<double>();
  const double scale = 2.0 / (4.5 * kPi);
  for (int64_t i = 0; i < n; ++i) {
    const double t = 1.5 * kPi * (1.0 + 2.0 * u[i]);
    out[2 * i] = scale * t * std::cos(t) + kStd * e[2 * i];
    out[2 * i + 1] = scale * t * std::sin(t) + kStd * e[2 * i + 1];
  }
}

// FFJORD's checkerboard without its final x2: uniform on the 8 dark unit squares of a 4x4 board
// on [-2, 2)^2, the square at [0, 1) x [0, 1) among them.
void checkerboard(int64_t n, Rng& gen, std::vector<double>& out, std::vector<int64_t>&) {
  const auto u = rand({n, 2}, gen, DType::f64).to_vector<double>();
  const auto b = randint(0, 2, {n}, gen).to_vector<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const double x1 = 4.0 * u[2 * i] - 2.0;
    const double parity = std::fmod(std::floor(x1), 2.0) == 0.0 ? 0.0 : 1.0;
    out[2 * i] = x1;
    out[2 * i + 1] = u[2 * i + 1] - 2.0 * static_cast<double>(b[i]) + parity;
  }
}

// sklearn's two moons (upper: (cos pi u, sin pi u); lower: (1 - cos pi u, 0.5 - sin pi u)),
// centred on (0.5, 0.25) and scaled by 4/3 to x in [-2, 2], y in [-1, 1].
void moons(int64_t n, Rng& gen, std::vector<double>& out, std::vector<int64_t>& labels) {
  const auto u = rand({n}, gen, DType::f64).to_vector<double>();
  const auto b = randint(0, 2, {n}, gen).to_vector<int64_t>();
  labels = b;
  const auto e = randn({n, 2}, gen, DType::f64).to_vector<double>();
  for (int64_t i = 0; i < n; ++i) {
    const double c = std::cos(kPi * u[i]), s = std::sin(kPi * u[i]);
    const double x = b[i] == 0 ? c : 1.0 - c;
    const double y = b[i] == 0 ? s : 0.5 - s;
    out[2 * i] = 4.0 / 3.0 * (x - 0.5) + kStd * e[2 * i];
    out[2 * i + 1] = 4.0 / 3.0 * (y - 0.25) + kStd * e[2 * i + 1];
  }
}

using ToyFn = void (*)(int64_t, Rng&, std::vector<double>&, std::vector<int64_t>&);

struct Toy {
  const char* name;
  ToyFn fn;
  int64_t num_classes;  // 0: unlabelled
};

constexpr Toy kToys[] = {{"8gaussians", gaussians_8, 8},
                         {"25gaussians", gaussians_25, 25},
                         {"swissroll", swissroll, 0},
                         {"checkerboard", checkerboard, 0},
                         {"moons", moons, 2}};

int64_t toy_index(const std::string& name) {
  for (size_t i = 0; i < std::size(kToys); ++i)
    if (name == kToys[i].name) return static_cast<int64_t>(i);
  std::string valid;
  for (const auto& toy : kToys) valid += (valid.empty() ? "" : ", ") + std::string(toy.name);
  ONESTEP_FAIL("unknown toy dataset '{}' (valid: {})", name, valid);
}

class ToySource final : public DataSource {
 public:
  ToySource(const std::string& spec, int64_t index, uint64_t seed) : index_(index), gen_(seed) {
    info_.spec = spec;
    info_.name = std::string("toy:") + kToys[index].name;
    info_.is_2d = true;
    info_.num_classes = kToys[index].num_classes;
  }

  const DatasetInfo& info() const override { return info_; }

  Batch next_batch(int64_t batch_size) override {
    return sample_toy_batch(kToys[index_].name, batch_size, gen_);
  }

  std::vector<int64_t> state() const override {
    return {kToyStateTag, index_, static_cast<int64_t>(gen_.seed()),
            static_cast<int64_t>(gen_.offset())};
  }

  void restore(const std::vector<int64_t>& state) override {
    ONESTEP_CHECK(state.size() == 4 && state[0] == kToyStateTag,
                  "restore: not the state of a toy dataset ({} values)", state.size());
    ONESTEP_CHECK(state[1] == index_, "restore: the state is for {}, this stream is '{}'",
                  state[1] >= 0 && state[1] < static_cast<int64_t>(std::size(kToys))
                      ? fmt::format("'toy:{}'", kToys[state[1]].name)
                      : fmt::format("toy #{}", state[1]),
                  info_.name);
    ONESTEP_CHECK(state[3] >= 0, "restore: negative generator offset {}", state[3]);
    gen_.set_state(static_cast<uint64_t>(state[2]), static_cast<uint64_t>(state[3]));
  }

  Batch reference_sample(int64_t n, Rng& gen) const override {
    return sample_toy_batch(kToys[index_].name, n, gen);
  }

 private:
  DatasetInfo info_;
  int64_t index_;
  Rng gen_;
};

}  // namespace

const std::vector<std::string>& toy_dataset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& toy : kToys) out.push_back(toy.name);
    return out;
  }();
  return names;
}

Batch sample_toy_batch(const std::string& name, int64_t n, Rng& gen) {
  const int64_t index = toy_index(name);
  ONESTEP_CHECK(n > 0, "toy '{}': number of samples must be positive, got {}", name, n);
  std::vector<double> xy(static_cast<size_t>(2 * n));
  std::vector<int64_t> labels;
  kToys[index].fn(n, gen, xy, labels);
  Batch batch{from_vector(xy, {n, 2}).to(DType::f32), Tensor()};
  if (kToys[index].num_classes > 0) batch.labels = from_vector(labels, {n});
  return batch;
}

Tensor sample_toy(const std::string& name, int64_t n, Rng& gen) {
  return sample_toy_batch(name, n, gen).x;
}

namespace detail {

std::unique_ptr<DataSource> make_toy_source(const std::string& spec, const std::string& name,
                                            const DataOptions& options) {
  return std::make_unique<ToySource>(spec, toy_index(name), options.seed);
}

}  // namespace detail

}  // namespace onestep::diffusion
