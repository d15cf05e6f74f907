// Fused group normalisation (+ SiLU) and its backward: one pass for the statistics and one for
// the output, instead of the composite's ~8 forward and ~15 backward passes over the activation
// (each a fresh tensor). Work is split over (sample, group) pairs; statistics accumulate in
// double. The composite in ops/nn_functional.cpp is the test oracle.

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "cpu_backend.h"
#include "parallel.h"

namespace onestep::cpu_backend {

namespace {

template <class T>
using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

struct GroupShape {
  int64_t N, C, S, groups;
  int64_t channels_per_group() const { return C / groups; }
};

GroupShape group_shape(const Tensor& x, int64_t groups) {
  return {x.size(0), x.size(1), x.size(2), groups};
}

template <class T>
T weight_at(const T* w, int64_t c) {
  return w ? w[c] : T(1);
}
template <class T>
T bias_at(const T* b, int64_t c) {
  return b ? b[c] : T(0);
}

template <class T>
void forward(const GroupShape s, const T* x, const T* w, const T* b, double eps, bool silu, T* y,
             T* mean_out, T* rstd_out) {
  const int64_t cg = s.channels_per_group(), count = cg * s.S;
  parallel_for(0, s.N * s.groups, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t ng = lo; ng < hi; ++ng) {
      const T* xs = x + ng * count;  // the group's channels are adjacent: [cg, S]
      double sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < count; ++i) sum += xs[i];
      const double mean = sum / static_cast<double>(count);
      double squares = 0;
#pragma omp simd reduction(+ : squares)
      for (int64_t i = 0; i < count; ++i) {
        const double d = xs[i] - mean;
        squares += d * d;
      }
      const double rstd = 1.0 / std::sqrt(squares / static_cast<double>(count) + eps);
      mean_out[ng] = static_cast<T>(mean);
      rstd_out[ng] = static_cast<T>(rstd);
      const int64_t c0 = (ng % s.groups) * cg;
      for (int64_t k = 0; k < cg; ++k) {
        // y = (x - mean) * rstd * w + b = x * scale + shift
        const double scale = rstd * static_cast<double>(weight_at(w, c0 + k));
        const T shift = static_cast<T>(static_cast<double>(bias_at(b, c0 + k)) - mean * scale);
        const ConstRow<T> in(xs + k * s.S, s.S);
        Row<T> out(y + ng * count + k * s.S, s.S);
        if (silu) {
          out = in * static_cast<T>(scale) + shift;
          out = out * out.logistic();
        } else {
          out = in * static_cast<T>(scale) + shift;
        }
      }
    }
  });
}

// With u = normalised x (xhat) and z = u w + b the pre-activation:
//   dz = dy * silu'(z)  (or dy),  dw[c] = sum dz u,  db[c] = sum dz,
//   dx = rstd * (w dz - mean_g(w dz) - u mean_g(w dz u)).
template <class T>
void backward(const GroupShape s, const T* dy, const T* x, const T* w, const T* b, const T* mean,
              const T* rstd, bool silu, T* dx, T* dw, T* db) {
  const int64_t cg = s.channels_per_group(), count = cg * s.S;
  // Per-sample channel sums, reduced over samples at the end (no shared writes in the loop).
  std::vector<double> sum_dz(dw || db ? s.N * s.C : 0), sum_dz_u(dw ? s.N * s.C : 0);
  parallel_for(0, s.N * s.groups, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> dz_buffer(count);
    for (int64_t ng = lo; ng < hi; ++ng) {
      const int64_t n = ng / s.groups, c0 = (ng % s.groups) * cg;
      const T* xs = x + ng * count;
      const T* dys = dy + ng * count;
      const T m = mean[ng], r = rstd[ng];
      T* dz = dz_buffer.data();
      double group_wdz = 0, group_wdz_u = 0;
      for (int64_t k = 0; k < cg; ++k) {
        const int64_t c = c0 + k;
        const T wc = weight_at(w, c), bc = bias_at(b, c);
        const ConstRow<T> xr(xs + k * s.S, s.S), dyr(dys + k * s.S, s.S);
        Row<T> dzr(dz + k * s.S, s.S);
        if (silu) {
          // silu'(z) = sig(z) (1 + z (1 - sig(z)))
          const auto z = (xr - m) * (r * wc) + bc;
          const Eigen::Array<T, Eigen::Dynamic, 1> sig = z.logistic();
          dzr = dyr * sig * (T(1) + z * (T(1) - sig));
        } else {
          dzr = dyr;
        }
        const double row_dz = static_cast<double>(dzr.template cast<double>().sum());
        const double row_dz_u =
            static_cast<double>(((xr - m) * r * dzr).template cast<double>().sum());
        if (!sum_dz.empty()) sum_dz[n * s.C + c] = row_dz;
        if (!sum_dz_u.empty()) sum_dz_u[n * s.C + c] = row_dz_u;
        group_wdz += static_cast<double>(wc) * row_dz;
        group_wdz_u += static_cast<double>(wc) * row_dz_u;
      }
      if (!dx) continue;
      const T a = static_cast<T>(group_wdz / static_cast<double>(count));
      const T bu = static_cast<T>(group_wdz_u / static_cast<double>(count));
      for (int64_t k = 0; k < cg; ++k) {
        const T wc = weight_at(w, c0 + k);
        const ConstRow<T> xr(xs + k * s.S, s.S), dzr(dz + k * s.S, s.S);
        Row<T>(dx + ng * count + k * s.S, s.S) = r * (wc * dzr - a - (xr - m) * r * bu);
      }
    }
  });
  for (int64_t c = 0; c < s.C; ++c) {
    double total_dz = 0, total_dz_u = 0;
    for (int64_t n = 0; n < s.N; ++n) {
      if (db) total_dz += sum_dz[n * s.C + c];
      if (dw) total_dz_u += sum_dz_u[n * s.C + c];
    }
    if (db) db[c] = static_cast<T>(total_dz);
    if (dw) dw[c] = static_cast<T>(total_dz_u);
  }
}

template <class T>
T* optional(const Tensor& t) {
  return t.defined() ? typed<T>(t) : nullptr;
}

}  // namespace

bool CpuBackend::group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                    int64_t groups, double eps, bool silu, const Tensor& out,
                                    const Tensor& mean, const Tensor& rstd) {
  dispatch_floating(x.dtype(), "group_norm", [&](auto tag) {
    using T = decltype(tag);
    forward<T>(group_shape(x, groups), typed<T>(x), optional<T>(weight), optional<T>(bias), eps,
               silu, typed<T>(out), typed<T>(mean), typed<T>(rstd));
  });
  return true;
}

bool CpuBackend::group_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                                     const Tensor& bias, const Tensor& mean, const Tensor& rstd,
                                     int64_t groups, bool silu, const Tensor& grad_x,
                                     const Tensor& grad_weight, const Tensor& grad_bias) {
  dispatch_floating(x.dtype(), "group_norm backward", [&](auto tag) {
    using T = decltype(tag);
    backward<T>(group_shape(x, groups), typed<T>(grad_out), typed<T>(x), optional<T>(weight),
                optional<T>(bias), typed<T>(mean), typed<T>(rstd), silu, optional<T>(grad_x),
                optional<T>(grad_weight), optional<T>(grad_bias));
  });
  return true;
}

}  // namespace onestep::cpu_backend
