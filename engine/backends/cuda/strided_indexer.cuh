#pragma once
// Elementwise kernels over N strided operands of one shape. On the host, dims are coalesced as
// on the CPU (size-1 dims dropped, adjacent dims merged where every operand is contiguous across
// them), so a contiguous or simply broadcast tensor becomes a 1-D loop with no division. On the
// device, each thread turns a linear index into one offset per operand. 32-bit index math is
// used whenever every offset fits: 64-bit division is several times slower on the GPU.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "onestep/engine/error.h"
#include "onestep/engine/shape.h"

namespace onestep::cuda_backend {

// for (int64_t i = ...; i < n; ...) over this thread's elements of a 1-D grid.
#define ONESTEP_GRID_STRIDE_LOOP(i, n)                                      \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); \
       i += int64_t{gridDim.x} * blockDim.x)

// More dims than any op produces after coalescing (a permuted 6-D view stays 6-D).
constexpr int kMaxDims = 16;
constexpr int kThreads = 256;
constexpr int64_t kInt32Limit = std::numeric_limits<int32_t>::max();

// ONESTEP_CUDA_INDEX64=1: every plan takes the 64-bit index path, so that tests reach the code a
// tensor of more than 2^31 elements runs without allocating one.
inline bool index64_forced() {
  static const bool forced = [] {
    const char* value = std::getenv("ONESTEP_CUDA_INDEX64");
    return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
  }();
  return forced;
}

template <int N, class Index>
struct StridedIndexer {
  using index_type = Index;
  int ndim = 1;
  Index sizes[kMaxDims] = {};
  Index strides[N][kMaxDims] = {};

  // Offsets, in elements, of element `linear` (row-major order) in each operand.
  __device__ __forceinline__ void offsets(Index linear, Index (&out)[N]) const {
    if (ndim == 1) {
#pragma unroll
      for (int k = 0; k < N; ++k) out[k] = linear * strides[k][0];
      return;
    }
#pragma unroll
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const Index i = linear % sizes[d];
      linear /= sizes[d];
#pragma unroll
      for (int k = 0; k < N; ++k) out[k] += i * strides[k][d];
    }
  }
};

// Host side: the coalesced dims of `shape` for operands with the given strides.
template <int N>
struct StridedPlan {
  int ndim = 0;
  int64_t numel = 1;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
  bool fits_int32 = true;

  // Bounds every offset of operand k, and every partial sum the device computes on the way.
  int64_t extent(int k) const {
    int64_t e = 0;
    for (int d = 0; d < ndim; ++d)
      e += (sizes[d] - 1) * (strides[k][d] < 0 ? -strides[k][d] : strides[k][d]);
    return e;
  }

  template <class Index>
  StridedIndexer<N, Index> indexer() const {
    StridedIndexer<N, Index> ix;
    ix.ndim = ndim;
    for (int d = 0; d < ndim; ++d) {
      ix.sizes[d] = static_cast<Index>(sizes[d]);
      for (int k = 0; k < N; ++k) ix.strides[k][d] = static_cast<Index>(strides[k][d]);
    }
    return ix;
  }
};

template <int N>
StridedPlan<N> make_plan(const Shape& shape, const std::array<const Shape*, N>& strides,
                         const char* op) {
  StridedPlan<N> plan;
  for (size_t d = 0; d < shape.size(); ++d) {
    plan.numel *= shape[d];
    if (shape[d] == 1) continue;
    bool mergeable = plan.ndim > 0;
    for (int k = 0; k < N && mergeable; ++k)
      mergeable = plan.strides[k][plan.ndim - 1] == (*strides[k])[d] * shape[d];
    if (mergeable) {
      plan.sizes[plan.ndim - 1] *= shape[d];
      for (int k = 0; k < N; ++k) plan.strides[k][plan.ndim - 1] = (*strides[k])[d];
      continue;
    }
    ONESTEP_CHECK(plan.ndim < kMaxDims,
                  "{} on cuda: more than {} dims remain after merging contiguous ones (shape {})",
                  op, kMaxDims, shape_str(shape));
    plan.sizes[plan.ndim] = shape[d];
    for (int k = 0; k < N; ++k) plan.strides[k][plan.ndim] = (*strides[k])[d];
    ++plan.ndim;
  }
  if (plan.ndim == 0) {
    plan.ndim = 1;
    plan.sizes[0] = 1;
    for (int k = 0; k < N; ++k) plan.strides[k][0] = 0;
  }
  plan.fits_int32 = plan.numel <= kInt32Limit && !index64_forced();
  for (int k = 0; k < N; ++k) plan.fits_int32 = plan.fits_int32 && plan.extent(k) <= kInt32Limit;
  return plan;
}

// Calls f(indexer) with 32- or 64-bit index math.
template <int N, class F>
void with_indexer(const StridedPlan<N>& plan, F&& f) {
  if (plan.fits_int32) {
    f(plan.template indexer<int32_t>());
  } else {
    f(plan.template indexer<int64_t>());
  }
}

// Blocks for a grid-stride loop over n elements: enough to fill every SM several times over,
// few enough that each thread does a handful of elements.
inline unsigned blocks_for(int64_t n, int sm_count) {
  const int64_t wanted = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(wanted, sm_count * 32LL)));
}

}  // namespace onestep::cuda_backend
