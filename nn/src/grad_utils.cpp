// Gradient clipping and clean-up.

#include "onestep/nn/grad_utils.h"

#include <cmath>

#include "onestep/engine/autograd.h"
#include "onestep/engine/creation.h"
#include "onestep/engine/elementwise.h"
#include "onestep/engine/reduction.h"

namespace onestep::nn {

namespace {

// Sums one-element partial results per (dtype, device) on that device, so that the host waits
// once per group rather than once per parameter (each item() is a device sync on a GPU).
class GroupedSum {
 public:
  void add(const Tensor& partial) {
    for (Group& g : groups_) {
      if (g.total.dtype() == partial.dtype() && g.total.device() == partial.device()) {
        g.total = g.total + partial;
        return;
      }
    }
    groups_.push_back({partial});
  }
  double value() const {
    double total = 0.0;
    for (const Group& g : groups_) total += g.total.item();
    return total;
  }

 private:
  struct Group {
    Tensor total;
  };
  std::vector<Group> groups_;
};

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, bool error_if_nonfinite) {
  ONESTEP_CHECK(std::isfinite(max_norm) && max_norm > 0.0,
                "clip_grad_norm: max_norm must be finite and > 0, got {}", max_norm);
  NoGradGuard no_grad;
  GroupedSum squares;
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    squares.add(sum(square(g)));
    grads.push_back(std::move(g));
  }
  const double norm = std::sqrt(squares.value());
  if (!std::isfinite(norm)) {
    ONESTEP_CHECK(!error_if_nonfinite,
                  "clip_grad_norm: the total gradient norm of {} parameters is {}; the "
                  "gradients were left unchanged",
                  grads.size(), norm);
    return norm;
  }
  const double scale = max_norm / (norm + 1e-6);
  if (scale < 1.0)
    for (Tensor& g : grads) g.mul_(scale);
  return norm;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip) {
  ONESTEP_CHECK(std::isfinite(clip) && clip >= 0.0,
                "clip_grad_value: clip must be finite and >= 0, got {}", clip);
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.copy_(clamp(g, -clip, clip));
  }
}

int64_t zero_nonfinite_grads(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  GroupedSum sums;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    sums.add(sum(g));
    grads.push_back(std::move(g));
  }
  // Any NaN or inf element makes the sum NaN or inf, so a finite total proves every gradient
  // clean with one reduction pass and no temporaries. A non-finite total (possibly just an
  // overflow) falls back to counting per gradient.
  if (std::isfinite(sums.value())) return 0;
  int64_t replaced = 0;
  for (Tensor& g : grads) {
    if (std::isfinite(sum(g).item())) continue;
    const Tensor bad = 1.0 - isfinite(g);  // 1 at NaN and ±inf
    // Counted in i64: an f32 sum of 0/1 values is inexact beyond 2^24.
    const int64_t count = static_cast<int64_t>(sum(bad.to(DType::i64)).item());
    if (count == 0) continue;
    g.copy_(where(bad, scalar_tensor(0.0, g.dtype(), g.device()), g));
    replaced += count;
  }
  return replaced;
}

}  // namespace onestep::nn
