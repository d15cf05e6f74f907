// conv2d as im2col + GEMM, one sample at a time. Samples are spread over threads when there
// are enough of them (each thread with its own column buffer); otherwise Eigen threads the GEMM.

#include <Eigen/Core>
#include <cstring>

#include "cpu_backend.h"
#include "parallel.h"

namespace onestep::cpu {

namespace {

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<Matrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;

// Each sample's [C, H, W] (and [O, Ho, Wo]) block is contiguous; samples may be apart by any
// stride, so channel slices of a larger tensor (a concat's gradient) need no copy.
struct ConvShape {
  int64_t N, C, H, W, O, kh, kw, Ho, Wo, stride, pad;
  int64_t x_batch_stride, y_batch_stride;
  int64_t patch() const { return C * kh * kw; }  // rows of the column matrix
  int64_t pixels() const { return Ho * Wo; }     // its columns
  bool is_pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
};

ConvShape conv_shape(const Tensor& x, const Tensor& w, const Tensor& y, backend::ConvGeometry g) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), w.size(0),      w.size(2),     w.size(3),
          y.size(2), y.size(3), g.stride,  g.padding, x.strides()[0], y.strides()[0]};
}

// col: [C*kh*kw, Ho*Wo] <- x: [C, H, W]
template <class T>
void im2col(const T* x, T* col, const ConvShape& s) {
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ki = 0; ki < s.kh; ++ki)
      for (int64_t kj = 0; kj < s.kw; ++kj) {
        T* row = col + ((c * s.kh + ki) * s.kw + kj) * s.pixels();
        // Output columns whose input column ow*stride - pad + kj lies inside [0, W).
        const int64_t shift = kj - s.pad;
        const int64_t ow_lo =
            std::min(s.Wo, std::max<int64_t>(0, (-shift + s.stride - 1) / s.stride));
        const int64_t ow_hi =
            std::max(ow_lo, std::min(s.Wo, (s.W - shift + s.stride - 1) / s.stride));
        for (int64_t oh = 0; oh < s.Ho; ++oh) {
          T* dst = row + oh * s.Wo;
          const int64_t ih = oh * s.stride - s.pad + ki;
          if (ih < 0 || ih >= s.H) {
            std::fill(dst, dst + s.Wo, T(0));
            continue;
          }
          const T* src = x + (c * s.H + ih) * s.W + shift;
          std::fill(dst, dst + ow_lo, T(0));
          if (s.stride == 1) {
            std::memcpy(dst + ow_lo, src + ow_lo, (ow_hi - ow_lo) * sizeof(T));
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = src[ow * s.stride];
          }
          std::fill(dst + ow_hi, dst + s.Wo, T(0));
        }
      }
}

// x: [C, H, W] += col2im(col: [C*kh*kw, Ho*Wo])
template <class T>
void col2im_add(const T* col, T* x, const ConvShape& s) {
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ki = 0; ki < s.kh; ++ki)
      for (int64_t kj = 0; kj < s.kw; ++kj) {
        const T* row = col + ((c * s.kh + ki) * s.kw + kj) * s.pixels();
        const int64_t shift = kj - s.pad;
        const int64_t ow_lo =
            std::min(s.Wo, std::max<int64_t>(0, (-shift + s.stride - 1) / s.stride));
        const int64_t ow_hi =
            std::max(ow_lo, std::min(s.Wo, (s.W - shift + s.stride - 1) / s.stride));
        for (int64_t oh = 0; oh < s.Ho; ++oh) {
          const int64_t ih = oh * s.stride - s.pad + ki;
          if (ih < 0 || ih >= s.H) continue;
          const T* src = row + oh * s.Wo;
          T* dst = x + (c * s.H + ih) * s.W + shift;
          if (s.stride == 1) {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] += src[ow];  // vectorised
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow * s.stride] += src[ow];
          }
        }
      }
}

// Column buffers from the backend's caching allocator, one per worker.
class Scratch {
 public:
  Scratch(CachingAllocator& allocator, size_t bytes_each, int count)
      : allocator_(allocator), bytes_(bytes_each) {
    for (int i = 0; i < count; ++i)
      blocks_.push_back(allocator_.allocate(std::max<size_t>(bytes_, 1)));
  }
  ~Scratch() {
    for (void* block : blocks_) allocator_.deallocate(block, std::max<size_t>(bytes_, 1));
  }
  template <class T>
  T* get(int i) const {
    return static_cast<T*>(blocks_[i]);
  }

 private:
  CachingAllocator& allocator_;
  size_t bytes_;
  std::vector<void*> blocks_;
};

// Runs body(n, worker) for every sample, over threads when N is large enough.
template <class Body>
int for_each_sample(int64_t N, const Body& body) {
  const int workers = N >= num_threads() ? num_threads() : 1;
  if (workers == 1) {
    for (int64_t n = 0; n < N; ++n) body(n, 0);
  } else {
    parallel_for(0, workers, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t w = lo; w < hi; ++w)
        for (int64_t n = N * w / workers; n < N * (w + 1) / workers; ++n)
          body(n, static_cast<int>(w));
    });
  }
  return workers;
}

int sample_workers(int64_t N) {
  return N >= num_threads() ? num_threads() : 1;
}

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& out,
                                backend::ConvGeometry g) {
  const ConvShape s = conv_shape(x, weight, out, g);
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = typed<T>(x);
    T* py = typed<T>(out);
    const ConstMatrixMap<T> w(typed<T>(weight), s.O, s.patch());
    Scratch scratch(allocator_, s.is_pointwise() ? 0 : s.patch() * s.pixels() * sizeof(T),
                    sample_workers(s.N));
    for_each_sample(s.N, [&](int64_t n, int worker) {
      const T* x_n = px + n * s.x_batch_stride;
      const T* col = x_n;
      if (!s.is_pointwise()) {
        im2col(x_n, scratch.get<T>(worker), s);
        col = scratch.get<T>(worker);
      }
      MatrixMap<T>(py + n * s.y_batch_stride, s.O, s.pixels()).noalias() =
          w * ConstMatrixMap<T>(col, s.patch(), s.pixels());
    });
  });
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                       const Tensor& grad_x, backend::ConvGeometry g) {
  const ConvShape s = conv_shape(grad_x, weight, grad_out, g);
  dispatch_floating(grad_x.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = typed<T>(grad_out);
    T* pgx = typed<T>(grad_x);
    const ConstMatrixMap<T> w(typed<T>(weight), s.O, s.patch());
    Scratch scratch(allocator_, s.is_pointwise() ? 0 : s.patch() * s.pixels() * sizeof(T),
                    sample_workers(s.N));
    for_each_sample(s.N, [&](int64_t n, int worker) {
      const ConstMatrixMap<T> g_n(pg + n * s.y_batch_stride, s.O, s.pixels());
      T* gx_n = pgx + n * s.x_batch_stride;
      if (s.is_pointwise()) {
        MatrixMap<T>(gx_n, s.patch(), s.pixels()).noalias() = w.transpose() * g_n;
        return;
      }
      T* col = scratch.get<T>(worker);
      MatrixMap<T>(col, s.patch(), s.pixels()).noalias() = w.transpose() * g_n;
      std::fill(gx_n, gx_n + s.C * s.H * s.W, T(0));
      col2im_add(col, gx_n, s);
    });
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_out, const Tensor& x,
                                        const Tensor& grad_w, backend::ConvGeometry g) {
  const ConvShape s = conv_shape(x, grad_w, grad_out, g);
  dispatch_floating(x.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = typed<T>(grad_out);
    const T* px = typed<T>(x);
    const int workers = sample_workers(s.N);
    const size_t col_bytes = s.is_pointwise() ? 0 : s.patch() * s.pixels() * sizeof(T);
    Scratch columns(allocator_, col_bytes, workers);
    // One partial weight gradient per worker, summed at the end.
    Scratch partials(allocator_, s.O * s.patch() * sizeof(T), workers);
    for (int i = 0; i < workers; ++i) MatrixMap<T>(partials.get<T>(i), s.O, s.patch()).setZero();
    for_each_sample(s.N, [&](int64_t n, int worker) {
      const T* x_n = px + n * s.x_batch_stride;
      const T* col = x_n;
      if (!s.is_pointwise()) {
        im2col(x_n, columns.get<T>(worker), s);
        col = columns.get<T>(worker);
      }
      MatrixMap<T>(partials.get<T>(worker), s.O, s.patch()).noalias() +=
          ConstMatrixMap<T>(pg + n * s.y_batch_stride, s.O, s.pixels()) *
          ConstMatrixMap<T>(col, s.patch(), s.pixels()).transpose();
    });
    MatrixMap<T> gw(typed<T>(grad_w), s.O, s.patch());
    gw = MatrixMap<T>(partials.get<T>(0), s.O, s.patch());
    for (int i = 1; i < workers; ++i) gw += MatrixMap<T>(partials.get<T>(i), s.O, s.patch());
  });
}

}  // namespace onestep::cpu
