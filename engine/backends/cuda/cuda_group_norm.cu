// Fused group normalisation (+ SiLU) and its backward, computed as cpu_group_norm.cpp computes
// them: one launch forward and two backward, instead of the composite's ~10 and ~20 (each a
// pass over the activation into a fresh tensor).
//   forward:  one block per (sample, group): mean, then the centred sum of squares (two passes
//             over the group, statistics in f64), then y = silu(x * scale + shift);
//   backward: one block per (sample, group): per channel the sums of dz and dz * xhat, then dx;
//             the per-sample channel sums go to a scratch [N, C] that a second kernel reduces
//             over samples in a fixed order, so grad weight and grad bias are deterministic.

#include <algorithm>
#include <cstdint>

#include "cuda_backend.h"
#include "device_math.cuh"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

namespace {

struct GroupShape {
  int64_t N, C, S, groups;
  __host__ __device__ int64_t channels_per_group() const { return C / groups; }
  __host__ __device__ int64_t group_count() const { return channels_per_group() * S; }
};

// Sums `value` over the block: a tree over `shared` (blockDim.x doubles, a power of two; a
// pointer, or the emulator's checked array). Every thread gets the total; `shared` may be reused
// as soon as this returns.
template <class Shared>
__device__ double block_sum(double value, Shared shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (unsigned width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) {
      const double left = shared[threadIdx.x], right = shared[threadIdx.x + width];
      shared[threadIdx.x] = left + right;
    }
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();
  return total;
}

// Two sums at once over 2 * blockDim.x doubles of `shared`.
template <class Shared>
__device__ void block_sum2(double* a, double* b, Shared shared) {
  const unsigned n = blockDim.x;
  shared[threadIdx.x] = *a;
  shared[n + threadIdx.x] = *b;
  __syncthreads();
  for (unsigned width = n / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) {
      const double a_left = shared[threadIdx.x], a_right = shared[threadIdx.x + width];
      const double b_left = shared[n + threadIdx.x], b_right = shared[n + threadIdx.x + width];
      shared[threadIdx.x] = a_left + a_right;
      shared[n + threadIdx.x] = b_left + b_right;
    }
    __syncthreads();
  }
  *a = shared[0];
  *b = shared[n];
  __syncthreads();
}

template <class T>
__device__ T sigmoid(T z) {
  return T(1) / (T(1) + dmath::exp(-z));
}

template <class T>
__global__ void group_norm_forward_kernel(const T* x, const T* weight, const T* bias,
                                          GroupShape s, double eps, bool silu, T* y,
                                          T* mean_out, T* rstd_out) {
  const auto shared = dynamic_shared_memory<double>();
  const int64_t cg = s.channels_per_group(), count = s.group_count();
  for (int64_t ng = blockIdx.x; ng < s.N * s.groups; ng += gridDim.x) {
    const T* xs = x + ng * count;  // the group's channels are adjacent: [cg, S]
    double sum = 0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) sum += static_cast<double>(xs[i]);
    const double mean = block_sum(sum, shared) / static_cast<double>(count);
    double squares = 0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const double d = static_cast<double>(xs[i]) - mean;
      squares += d * d;
    }
    const double rstd =
        1.0 / dmath::sqrt(block_sum(squares, shared) / static_cast<double>(count) + eps);
    if (threadIdx.x == 0) {
      mean_out[ng] = static_cast<T>(mean);
      rstd_out[ng] = static_cast<T>(rstd);
    }
    const int64_t c0 = (ng % s.groups) * cg;
    T* ys = y + ng * count;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const int64_t c = c0 + i / s.S;
      // y = (x - mean) * rstd * w + b = x * scale + shift
      const double scale = rstd * (weight ? static_cast<double>(weight[c]) : 1.0);
      const T shift =
          static_cast<T>((bias ? static_cast<double>(bias[c]) : 0.0) - mean * scale);
      const T z = xs[i] * static_cast<T>(scale) + shift;
      ys[i] = silu ? z * sigmoid(z) : z;
    }
  }
}

// dz = dy * silu'(z) (or dy) at element i of channel c, with u = xhat.
template <class T>
__device__ T pre_activation_grad(T dy, T u, T wc, T bc, bool silu) {
  if (!silu) return dy;
  const T z = u * wc + bc;
  const T sig = sigmoid(z);
  return dy * sig * (T(1) + z * (T(1) - sig));
}

// With u = xhat and z = u w + b: dw[c] = sum dz u, db[c] = sum dz,
// dx = rstd * (w dz - mean_g(w dz) - u mean_g(w dz u)). Writes this sample's channel sums to
// sum_dz / sum_dz_u [N, C] (when not null) for channel_sums_kernel.
template <class T>
__global__ void group_norm_backward_kernel(const T* dy, const T* x, const T* weight,
                                           const T* bias, const T* mean, const T* rstd,
                                           GroupShape s, bool silu, T* dx, double* sum_dz,
                                           double* sum_dz_u) {
  const auto shared = dynamic_shared_memory<double>();
  const int64_t cg = s.channels_per_group(), count = s.group_count();
  for (int64_t ng = blockIdx.x; ng < s.N * s.groups; ng += gridDim.x) {
    const int64_t n = ng / s.groups, c0 = (ng % s.groups) * cg;
    const T* xs = x + ng * count;
    const T* dys = dy + ng * count;
    const T m = mean[ng], r = rstd[ng];
    double group_wdz = 0, group_wdz_u = 0;
    for (int64_t k = 0; k < cg; ++k) {
      const int64_t c = c0 + k;
      const T wc = weight ? weight[c] : T(1), bc = bias ? bias[c] : T(0);
      double row_dz = 0, row_dz_u = 0;
      for (int64_t i = threadIdx.x; i < s.S; i += blockDim.x) {
        const T u = (xs[k * s.S + i] - m) * r;
        const T dz = pre_activation_grad(dys[k * s.S + i], u, wc, bc, silu);
        row_dz += static_cast<double>(dz);
        row_dz_u += static_cast<double>(u * dz);
      }
      block_sum2(&row_dz, &row_dz_u, shared);
      if (threadIdx.x == 0) {
        if (sum_dz) sum_dz[n * s.C + c] = row_dz;
        if (sum_dz_u) sum_dz_u[n * s.C + c] = row_dz_u;
      }
      group_wdz += static_cast<double>(wc) * row_dz;
      group_wdz_u += static_cast<double>(wc) * row_dz_u;
    }
    if (!dx) continue;
    const T a = static_cast<T>(group_wdz / static_cast<double>(count));
    const T bu = static_cast<T>(group_wdz_u / static_cast<double>(count));
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const int64_t c = c0 + i / s.S;
      const T wc = weight ? weight[c] : T(1), bc = bias ? bias[c] : T(0);
      const T u = (xs[i] - m) * r;
      const T dz = pre_activation_grad(dys[i], u, wc, bc, silu);
      dx[ng * count + i] = r * (wc * dz - a - u * bu);
    }
  }
}

// grad_bias[c] = sum over n of sum_dz[n, c], grad_weight likewise from sum_dz_u, in order of n.
template <class T>
__global__ void channel_sums_kernel(const double* sum_dz, const double* sum_dz_u, int64_t N,
                                    int64_t C, T* grad_weight, T* grad_bias) {
  ONESTEP_GRID_STRIDE_LOOP(c, C) {
    double total_dz = 0, total_dz_u = 0;
    for (int64_t n = 0; n < N; ++n) {
      if (grad_bias) total_dz += sum_dz[n * C + c];
      if (grad_weight) total_dz_u += sum_dz_u[n * C + c];
    }
    if (grad_bias) grad_bias[c] = static_cast<T>(total_dz);
    if (grad_weight) grad_weight[c] = static_cast<T>(total_dz_u);
  }
}

// A power of two from one warp to kThreads, about as wide as the loops of `extent` elements.
int threads_for(int64_t extent) {
  int threads = 32;
  while (threads < kThreads && threads < extent) threads *= 2;
  return threads;
}

unsigned blocks_for_groups(const GroupShape& s) {
  return static_cast<unsigned>(std::min<int64_t>(s.N * s.groups, int64_t{1} << 20));
}

// The data of an optional tensor (weight, bias, a gradient not asked for), null when undefined.
template <class T>
T* optional(const Tensor& t) {
  return t.defined() ? typed<T>(t) : nullptr;
}

}  // namespace

bool CudaBackend::group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     int64_t groups, double eps, bool silu, const Tensor& out,
                                     const Tensor& mean, const Tensor& rstd) {
  activate();
  const GroupShape s{x.size(0), x.size(1), x.size(2), groups};
  dispatch_floating(x.dtype(), "group_norm", [&](auto tag) {
    using T = decltype(tag);
    const int threads = threads_for(s.group_count());
    ONESTEP_LAUNCH(blocks_for_groups(s), threads, threads * sizeof(double), stream(),
                   group_norm_forward_kernel<T>)(typed<T>(x), optional<T>(weight),
                                                 optional<T>(bias), s, eps, silu, typed<T>(out),
                                                 typed<T>(mean), typed<T>(rstd));
  });
  return true;
}

bool CudaBackend::group_norm_backward(const Tensor& grad_out, const Tensor& x,
                                      const Tensor& weight, const Tensor& bias,
                                      const Tensor& mean, const Tensor& rstd, int64_t groups,
                                      bool silu, const Tensor& grad_x, const Tensor& grad_weight,
                                      const Tensor& grad_bias) {
  activate();
  const GroupShape s{x.size(0), x.size(1), x.size(2), groups};
  const bool channel_grads = grad_weight.defined() || grad_bias.defined();
  dispatch_floating(x.dtype(), "group_norm backward", [&](auto tag) {
    using T = decltype(tag);
    // sum_dz and sum_dz_u side by side in one scratch block.
    Scratch sums(*this, channel_grads ? 2 * s.N * s.C * sizeof(double) : 0);
    double* sum_dz = channel_grads ? sums.get<double>() : nullptr;
    double* sum_dz_u = channel_grads ? sums.get<double>() + s.N * s.C : nullptr;
    const int threads = threads_for(s.S);  // the per-channel sums loop over S
    ONESTEP_LAUNCH(blocks_for_groups(s), threads, 2 * threads * sizeof(double), stream(),
                   group_norm_backward_kernel<T>)(
        typed<T>(grad_out), typed<T>(x), optional<T>(weight), optional<T>(bias), typed<T>(mean),
        typed<T>(rstd), s, silu, optional<T>(grad_x), sum_dz, sum_dz_u);
    if (!channel_grads) return;
    ONESTEP_LAUNCH(blocks_for(s.C, sm_count()), kThreads, 0, stream(), channel_sums_kernel<T>)(
        sum_dz, sum_dz_u, s.N, s.C, optional<T>(grad_weight), optional<T>(grad_bias));
  });
  return true;
}

}  // namespace onestep::cuda_backend
