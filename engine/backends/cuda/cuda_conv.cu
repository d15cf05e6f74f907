// conv2d as im2col + cuBLAS GEMM, a chunk of samples per GEMM. Correct before fast: the
// column buffer is C*kh*kw times the input, so chunks are sized to a fixed budget; an implicit
// GEMM kernel is the later, fast path, with this one as its oracle.
//
// Shapes: x [N, C, H, W] (each sample contiguous, samples x_batch_stride apart), weight
// [O, C, kh, kw] contiguous, y [N, O, Ho, Wo] (samples y_batch_stride apart). CK = C*kh*kw rows
// of the column matrix, P = Ho*Wo columns.

#include <algorithm>

#include "cuda_backend.h"
#include "cuda_blas.h"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

namespace {

struct ConvShape {
  int64_t N, C, H, W, O, kh, kw, Ho, Wo, stride, pad;
  int64_t x_batch_stride, y_batch_stride;
  __host__ __device__ int64_t patch() const { return C * kh * kw; }  // CK
  __host__ __device__ int64_t pixels() const { return Ho * Wo; }     // P
  bool is_pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
};

ConvShape conv_shape(const Tensor& x, const Tensor& w, const Tensor& y, backend::ConvGeometry g) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), w.size(0),      w.size(2),     w.size(3),
          y.size(2), y.size(3), g.stride,  g.padding, x.strides()[0], y.strides()[0]};
}

// The column buffer of one chunk stays under this many bytes.
constexpr int64_t kColumnBudget = int64_t{256} << 20;

int64_t chunk_samples(const ConvShape& s, size_t element) {
  const int64_t per_sample = std::max<int64_t>(1, s.patch() * s.pixels() * element);
  return std::clamp<int64_t>(kColumnBudget / per_sample, 1, std::max<int64_t>(s.N, 1));
}

// col[nl * sample_stride + ck * row_stride + p] = x[n0 + nl] at the input pixel that kernel
// tap ck sees from output pixel p (0 in the padding), for nl < nb.
template <class T>
__global__ void im2col_kernel(const T* x, T* col, ConvShape s, int64_t n0, int64_t nb,
                              int64_t sample_stride, int64_t row_stride) {
  const int64_t P = s.pixels(), CK = s.patch(), taps = s.kh * s.kw;
  ONESTEP_GRID_STRIDE_LOOP(i, nb * CK * P) {
    const int64_t p = i % P, ck = (i / P) % CK, nl = i / (P * CK);
    const int64_t c = ck / taps, ki = (ck % taps) / s.kw, kj = ck % s.kw;
    const int64_t ih = (p / s.Wo) * s.stride - s.pad + ki;
    const int64_t iw = (p % s.Wo) * s.stride - s.pad + kj;
    const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
    col[nl * sample_stride + ck * row_stride + p] =
        inside ? x[(n0 + nl) * s.x_batch_stride + (c * s.H + ih) * s.W + iw] : T(0);
  }
}

// The adjoint of im2col, gathered: each input pixel sums the column entries of every (tap,
// output pixel) pair that saw it, so no two threads write one element and no atomics are needed.
// col: [nb, CK, P] contiguous; writes gx[n0 + nl] (every element, including unseen ones as 0).
template <class T>
__global__ void col2im_kernel(const T* col, T* gx, ConvShape s, int64_t n0, int64_t nb) {
  const int64_t P = s.pixels(), CK = s.patch(), HW = s.H * s.W;
  ONESTEP_GRID_STRIDE_LOOP(i, nb * s.C * HW) {
    const int64_t iw = i % s.W, ih = (i / s.W) % s.H, c = (i / HW) % s.C, nl = i / (HW * s.C);
    const T* col_n = col + nl * CK * P;
    T sum = T(0);
    for (int64_t ki = 0; ki < s.kh; ++ki) {
      const int64_t oh_scaled = ih + s.pad - ki;  // oh * stride when this tap sees row ih
      if (oh_scaled < 0 || oh_scaled % s.stride != 0) continue;
      const int64_t oh = oh_scaled / s.stride;
      if (oh >= s.Ho) continue;
      for (int64_t kj = 0; kj < s.kw; ++kj) {
        const int64_t ow_scaled = iw + s.pad - kj;
        if (ow_scaled < 0 || ow_scaled % s.stride != 0) continue;
        const int64_t ow = ow_scaled / s.stride;
        if (ow >= s.Wo) continue;
        sum += col_n[((c * s.kh + ki) * s.kw + kj) * P + oh * s.Wo + ow];
      }
    }
    gx[(n0 + nl) * s.x_batch_stride + c * HW + ih * s.W + iw] = sum;
  }
}

// gt [O, nb, P] <- grad_out samples n0 .. n0+nb: the chunk's output gradients side by side, so
// that one GEMM over nb*P columns sums the weight gradient over the chunk.
template <class T>
__global__ void gather_grad_kernel(const T* g, T* gt, ConvShape s, int64_t n0, int64_t nb) {
  const int64_t P = s.pixels();
  ONESTEP_GRID_STRIDE_LOOP(i, s.O * nb * P) {
    const int64_t p = i % P, nl = (i / P) % nb, o = i / (P * nb);
    gt[i] = g[(n0 + nl) * s.y_batch_stride + o * P + p];
  }
}

template <class T>
void im2col(const CudaBackend& be, const T* x, T* col, const ConvShape& s, int64_t n0, int64_t nb,
            int64_t sample_stride, int64_t row_stride) {
  ONESTEP_LAUNCH(blocks_for(nb * s.patch() * s.pixels(), be.sm_count()), kThreads, 0,
                 be.stream(), im2col_kernel<T>)(x, col, s, n0, nb, sample_stride, row_stride);
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& out,
                                 backend::ConvGeometry g) {
  const ConvShape s = conv_shape(x, weight, out, g);
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    if (s.N == 0 || s.O == 0 || s.pixels() == 0) return;
    activate();
    if (s.patch() == 0) return fill(out, 0.0);
    const int64_t CK = s.patch(), P = s.pixels();
    const T* px = typed<T>(x);
    T* py = typed<T>(out);
    // Column-major: y_n^T [P, O] = col_n^T [P, CK] @ W^T [CK, O], W shared by the batch.
    const GemmOperand w{weight.raw_data(), CK, 0, false};
    if (s.is_pointwise()) {  // x_n is its own column matrix
      gemm_strided_batched(*this, x.dtype(), P, s.O, CK, {px, P, s.x_batch_stride, false}, w, py, P,
                           s.y_batch_stride, s.N, 0.0);
      return;
    }
    const int64_t chunk = chunk_samples(s, sizeof(T));
    Scratch col(*this, chunk * CK * P * sizeof(T));
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
      const int64_t nb = std::min(chunk, s.N - n0);
      im2col(*this, px, col.get<T>(), s, n0, nb, CK * P, P);
      gemm_strided_batched(*this, x.dtype(), P, s.O, CK, {col.get<T>(), P, CK * P, false}, w,
                           py + n0 * s.y_batch_stride, P, s.y_batch_stride, nb, 0.0);
    }
  });
}

void CudaBackend::conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                        const Tensor& grad_x, backend::ConvGeometry g) {
  const ConvShape s = conv_shape(grad_x, weight, grad_out, g);
  dispatch_floating(grad_x.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    if (grad_x.numel() == 0) return;
    activate();
    if (s.O == 0 || s.pixels() == 0) return fill(grad_x, 0.0);
    const int64_t CK = s.patch(), P = s.pixels();
    const T* pg = typed<T>(grad_out);
    T* pgx = typed<T>(grad_x);
    // Column-major: col_n^T [P, CK] = g_n^T [P, O] @ W [O, CK].
    const GemmOperand w{weight.raw_data(), CK, 0, true};
    if (s.is_pointwise()) {
      gemm_strided_batched(*this, grad_x.dtype(), P, CK, s.O, {pg, P, s.y_batch_stride, false}, w,
                           pgx, P, s.x_batch_stride, s.N, 0.0);
      return;
    }
    const int64_t chunk = chunk_samples(s, sizeof(T));
    Scratch col(*this, chunk * CK * P * sizeof(T));
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
      const int64_t nb = std::min(chunk, s.N - n0);
      gemm_strided_batched(*this, grad_x.dtype(), P, CK, s.O,
                           {pg + n0 * s.y_batch_stride, P, s.y_batch_stride, false}, w,
                           col.get<T>(), P, CK * P, nb, 0.0);
      ONESTEP_LAUNCH(blocks_for(nb * s.C * s.H * s.W, sm_count_), kThreads, 0, stream_,
                     col2im_kernel<T>)(col.get<T>(), pgx, s, n0, nb);
    }
  });
}

void CudaBackend::conv2d_backward_weight(const Tensor& grad_out, const Tensor& x,
                                         const Tensor& grad_w, backend::ConvGeometry g) {
  const ConvShape s = conv_shape(x, grad_w, grad_out, g);
  dispatch_floating(x.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    if (grad_w.numel() == 0) return;
    activate();
    if (s.N == 0 || s.pixels() == 0) return fill(grad_w, 0.0);
    const int64_t CK = s.patch(), P = s.pixels();
    const T* pg = typed<T>(grad_out);
    const T* px = typed<T>(x);
    const int64_t chunk = chunk_samples(s, sizeof(T));
    // Columns of the chunk side by side, [CK, nb*P], and the output gradients likewise,
    // [O, nb*P]: one GEMM with an inner size of nb*P sums the chunk's samples.
    Scratch col(*this, chunk * CK * P * sizeof(T));
    Scratch gathered(*this, chunk > 1 ? chunk * s.O * P * sizeof(T) : 0);
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
      const int64_t nb = std::min(chunk, s.N - n0), L = nb * P;
      im2col(*this, px, col.get<T>(), s, n0, nb, P, L);
      const T* gt = pg + n0 * s.y_batch_stride;  // one sample: its [O, P] block as it lies
      if (nb > 1) {
        ONESTEP_LAUNCH(blocks_for(s.O * L, sm_count_), kThreads, 0, stream_,
                       gather_grad_kernel<T>)(pg, gathered.get<T>(), s, n0, nb);
        gt = gathered.get<T>();
      }
      // Column-major: gW^T [CK, O] (+)= col [CK, L] @ gt^T [L, O].
      gemm_strided_batched(*this, x.dtype(), CK, s.O, L, {col.get<T>(), L, 0, true},
                           {gt, L, 0, false}, grad_w.raw_data(), CK, 0, 1, n0 == 0 ? 0.0 : 1.0);
    }
  });
}

}  // namespace onestep::cuda_backend
