#include "onestep/run/nonfinite_steps.h"

#include <algorithm>
#include <cmath>

#include "onestep/engine.h"

namespace onestep::run {

bool NanInjection::loss_at(int64_t step) const {
  return std::find(loss_steps.begin(), loss_steps.end(), step) != loss_steps.end();
}

bool NanInjection::grad_at(int64_t step) const {
  return std::find(grad_steps.begin(), grad_steps.end(), step) != grad_steps.end();
}

void NanInjection::validate(const char* who) const {
  for (const auto* steps : {&loss_steps, &grad_steps})
    for (int64_t s : *steps)
      ONESTEP_CHECK(s >= 1, "{}: NaN injection step numbers start at 1, got {}", who, s);
}

void poison_gradient(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    g.fill_(NAN);
    return;
  }
}

bool all_finite(const std::vector<Tensor>& tensors) {
  NoGradGuard no_grad;
  for (const Tensor& t : tensors) {
    // x * 0 is 0 for finite x and NaN for NaN or ±inf, so the sum is finite iff every element is.
    if (t.defined() && t.numel() > 0 && !std::isfinite(sum(t * 0.0).item())) return false;
  }
  return true;
}

std::string describe_skipped_run(const char* unit, int64_t last, int64_t count) {
  if (count == 1) return fmt::format("{} {}", unit, last);
  return fmt::format("{}s {}-{} ({} in a row)", unit, last - count + 1, last, count);
}

}  // namespace onestep::run
