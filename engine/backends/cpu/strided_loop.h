#pragma once
// Iterating over N strided operands of one shape. Dims are coalesced (size-1 dims dropped,
// adjacent dims merged where every operand is contiguous across them), so a contiguous or
// simply broadcast tensor becomes one or two loops. A body receives a run along the innermost
// dim: body(offsets, n, inner_strides), offsets in elements from each operand's base pointer.

#include <array>
#include <cstdint>
#include <vector>

#include "onestep/engine/shape.h"
#include "parallel.h"

namespace onestep::cpu_backend {

template <size_t N>
struct StridedPlan {
  std::vector<int64_t> sizes;                   // innermost last; at least one dim
  std::array<std::vector<int64_t>, N> strides;  // per operand, per dim
  int64_t numel = 1;
};

template <size_t N>
StridedPlan<N> make_plan(const Shape& shape, const std::array<const Shape*, N>& strides) {
  StridedPlan<N> plan;
  for (size_t d = 0; d < shape.size(); ++d) {
    plan.numel *= shape[d];
    if (shape[d] == 1) continue;
    const bool mergeable = !plan.sizes.empty() && [&] {
      for (size_t k = 0; k < N; ++k)
        if (plan.strides[k].back() != (*strides[k])[d] * shape[d]) return false;
      return true;
    }();
    if (mergeable) {
      plan.sizes.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) plan.strides[k].back() = (*strides[k])[d];
    } else {
      plan.sizes.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) plan.strides[k].push_back((*strides[k])[d]);
    }
  }
  if (plan.sizes.empty()) {
    plan.sizes.push_back(1);
    for (size_t k = 0; k < N; ++k) plan.strides[k].push_back(0);
  }
  return plan;
}

// Runs body over the elements [begin, end) of the plan's row-major order.
template <size_t N, class Body>
void iterate_range(const StridedPlan<N>& plan, int64_t begin, int64_t end, const Body& body) {
  const int64_t ndim = static_cast<int64_t>(plan.sizes.size());
  const int64_t inner = plan.sizes.back();
  std::vector<int64_t> index(ndim, 0);
  std::array<int64_t, N> offsets{};
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = plan.strides[k].back();
  // Multi-index of `begin`.
  int64_t rest = begin;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    index[d] = rest % plan.sizes[d];
    rest /= plan.sizes[d];
    for (size_t k = 0; k < N; ++k) offsets[k] += index[d] * plan.strides[k][d];
  }
  int64_t position = begin;
  while (position < end) {
    const int64_t run = std::min(inner - index[ndim - 1], end - position);
    body(offsets, run, inner_strides);
    position += run;
    // Advance the odometer by `run` along the innermost dim, carrying outward.
    for (size_t k = 0; k < N; ++k) offsets[k] += run * inner_strides[k];
    index[ndim - 1] += run;
    for (int64_t d = ndim - 1; d > 0 && index[d] == plan.sizes[d]; --d) {
      for (size_t k = 0; k < N; ++k)
        offsets[k] += plan.strides[k][d - 1] - plan.sizes[d] * plan.strides[k][d];
      index[d] = 0;
      ++index[d - 1];
    }
  }
}

// Elementwise work is cheap per element: only split it across threads when it is large.
constexpr int64_t kElementwiseGrain = 1 << 15;

template <size_t N, class Body>
void parallel_iterate(const StridedPlan<N>& plan, const Body& body,
                      int64_t grain = kElementwiseGrain) {
  parallel_for(0, plan.numel, grain,
               [&](int64_t begin, int64_t end) { iterate_range(plan, begin, end, body); });
}

}  // namespace onestep::cpu_backend
