// conv2d as im2col + GEMM, one sample at a time. Samples are spread over threads when there
// are enough of them (each thread with its own column buffer); otherwise the GEMM is threaded.
// float runs the GEMMs of cpu_sgemm.h where they are built, AVX-512 or AVX2 (weights packed once
// per call, not once per sample; the forward im2col written in the GEMM's column blocks; weight
// gradients of large images as dot products); double, and float on other CPUs, run Eigen. Under
// MatmulPrecision::bf16, float runs the bfloat16 GEMM of cpu_bf16_gemm.h in all three.

#include <Eigen/Core>
#include <cstring>
#include <type_traits>

#include "onestep/engine/precision.h"

#include "cpu_backend.h"
#include "cpu_bf16_gemm.h"
#include "cpu_sgemm.h"
#include "parallel.h"

namespace onestep::cpu_backend {

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

// Calls f(c, ki, k, shift, ow_lo, ow_hi) for every tap (channel c, kernel row ki, kernel column
// kj) in column-matrix row order k = (c * kh + ki) * kw + kj, where the tap reads input column
// ow * stride + shift (shift = kj - pad) and [ow_lo, ow_hi) are the output columns for which that
// lies inside [0, W).
template <class F>
void for_each_tap(const ConvShape& s, F&& f) {
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ki = 0; ki < s.kh; ++ki)
      for (int64_t kj = 0; kj < s.kw; ++kj) {
        const int64_t shift = kj - s.pad;
        const int64_t ow_lo =
            std::min(s.Wo, std::max<int64_t>(0, (-shift + s.stride - 1) / s.stride));
        const int64_t ow_hi =
            std::max(ow_lo, std::min(s.Wo, (s.W - shift + s.stride - 1) / s.stride));
        f(c, ki, (c * s.kh + ki) * s.kw + kj, shift, ow_lo, ow_hi);
      }
}

// col: [C*kh*kw, Ho*Wo] <- x: [C, H, W]. Output row oh of column-matrix row k goes to
// row_at(k, oh), Wo contiguous values.
template <class T, class RowAt>
void im2col(const T* x, const ConvShape& s, const RowAt& row_at) {
  auto zero = [](T* dst, int64_t from, int64_t to) { std::fill(dst + from, dst + to, T(0)); };
  for_each_tap(s,
               [&](int64_t c, int64_t ki, int64_t k, int64_t shift, int64_t ow_lo, int64_t ow_hi) {
                 for (int64_t oh = 0; oh < s.Ho; ++oh) {
                   T* dst = row_at(k, oh);
                   const int64_t ih = oh * s.stride - s.pad + ki;
                   if (ih < 0 || ih >= s.H) {
                     zero(dst, 0, s.Wo);
                     continue;
                   }
                   const T* src = x + (c * s.H + ih) * s.W + shift;
                   zero(dst, 0, ow_lo);
                   if (s.stride == 1) {
                     std::memcpy(dst + ow_lo, src + ow_lo, (ow_hi - ow_lo) * sizeof(T));
                   } else {
                     for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = src[ow * s.stride];
                   }
                   zero(dst, ow_hi, s.Wo);
                 }
               });
}

template <class T>
void im2col(const T* x, T* col, const ConvShape& s) {
  im2col(x, s, [&](int64_t k, int64_t oh) { return col + k * s.pixels() + oh * s.Wo; });
}

// im2col into sgemm's column blocks (multiply_blocked), for outputs whose rows never straddle
// two blocks.
[[maybe_unused]] bool fits_blocked_columns(const ConvShape& s) {
  return sgemm::kBlockCols % s.Wo == 0;
}

template <class T>
void im2col_blocked(const T* x, T* col, const ConvShape& s) {
  const int64_t block = sgemm::kBlockCols, block_size = s.patch() * block;
  im2col(x, s, [&](int64_t k, int64_t oh) {
    const int64_t j = oh * s.Wo;
    return col + (j / block) * block_size + k * block + j % block;
  });
}

// x: [C, H, W] += col2im(col: [C*kh*kw, Ho*Wo])
template <class T>
void col2im_add(const T* col, T* x, const ConvShape& s) {
  for_each_tap(s,
               [&](int64_t c, int64_t ki, int64_t k, int64_t shift, int64_t ow_lo, int64_t ow_hi) {
                 const T* row = col + k * s.pixels();
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
               });
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

// Samples are spread over threads when there are at least as many as threads; otherwise they
// run in turn on this thread and the GEMM inside is threaded.
bool samples_in_parallel(int64_t N) { return N >= num_threads() && !in_parallel_region(); }

// Column buffers a convolution needs: one per thread that may run a sample.
int sample_workers(int64_t N) { return samples_in_parallel(N) ? num_threads() : 1; }

// Runs body(first, last, group, worker) for `groups` consecutive runs [first, last) of samples
// covering [0, N); worker < sample_workers(N) indexes the running thread's scratch. Threads take
// groups as they become free; a result accumulated per group does not depend on which thread
// ran it.
template <class Body>
void for_each_sample_group(int64_t N, int64_t groups, const Body& body) {
  auto group = [&](int64_t g, int worker) { body(N * g / groups, N * (g + 1) / groups, g, worker); };
  if (!samples_in_parallel(N)) {
    for (int64_t g = 0; g < groups; ++g) group(g, 0);
    return;
  }
  run_chunks(groups, num_threads(), group);
}

// Runs body(n, worker) for every sample, one sample per group.
template <class Body>
void for_each_sample(int64_t N, const Body& body) {
  for_each_sample_group(N, N, [&](int64_t n, int64_t, int64_t, int worker) { body(n, worker); });
}

// Whether a float32 call rounds its operands to bfloat16 (MatmulPrecision::bf16).
bool bf16_operands() { return matmul_precision() == MatmulPrecision::bf16; }

template <class T>
constexpr bool kPackedGemm = std::is_same_v<T, float>&& sgemm::kAvailable;

// From this many output pixels up (32x32 images), the weight gradient runs as dot products
// (cpu_sgemm.h): 12.2 against Eigen's 14.8 ms for 64 channels at 32x32, batch 16, one core.
// Below, the dot products are too short to pay for their final sums (at 16x16 they took 15.1
// against Eigen's 11.8 ms; a packed GEMM with the column matrix written in packed order, 12.4),
// and Eigen runs.
constexpr int64_t kDotProductMinPixels = 512;

// The bf16 weight gradient's dot products are at least this long (in bfloat16 elements) where the
// batch allows: 8x8 images ran at 24 % of the vdpbf16ps peak one sample at a time.
constexpr int64_t kBf16DotMinDepth = 512;

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& out,
                                backend::ConvGeometry g) {
  conv2d(x, weight, Tensor(), out, g);
}

bool CpuBackend::conv2d_forward_with_bias(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                          const Tensor& out, backend::ConvGeometry g) {
  conv2d(x, weight, bias, out, g);
  return true;
}

void CpuBackend::conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& out, backend::ConvGeometry g) {
  const ConvShape s = conv_shape(x, weight, out, g);
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = typed<T>(x);
    T* py = typed<T>(out);
    const T* pb = bias.defined() ? typed<T>(bias) : nullptr;
    // While sample n's output is still in cache.
    auto add_bias = [&](T* y_n) {
      if (pb == nullptr) return;
      for (int64_t o = 0; o < s.O; ++o) {
        T* row = y_n + o * s.pixels();
        for (int64_t p = 0; p < s.pixels(); ++p) row[p] += pb[o];
      }
    };
    // y_n[O, P] = w[O, patch] col_n[patch, P]
    if constexpr (std::is_same_v<T, float>) {
      if (bf16_operands()) {
        Scratch columns(allocator_, s.is_pointwise() ? 0 : s.patch() * s.pixels() * sizeof(T),
                        sample_workers(s.N));
        Scratch packed(allocator_, bf16_gemm::packed_lhs_size(s.O, s.patch()) * sizeof(uint32_t),
                       1);
        bf16_gemm::pack_lhs(typed<T>(weight), s.O, s.patch(), s.patch(), 1,
                            packed.get<uint32_t>(0));
        for_each_sample(s.N, [&](int64_t n, int worker) {
          const T* col = px + n * s.x_batch_stride;
          if (!s.is_pointwise()) {
            im2col(col, columns.get<T>(worker), s);
            col = columns.get<T>(worker);
          }
          T* y_n = py + n * s.y_batch_stride;
          bf16_gemm::multiply(packed.get<uint32_t>(0), s.O, s.patch(), col, s.pixels(), 1,
                              s.pixels(), y_n, s.pixels(), false);
          add_bias(y_n);
        });
        return;
      }
    }
    if constexpr (kPackedGemm<T>) {
      const bool blocked = !s.is_pointwise() && fits_blocked_columns(s);
      Scratch columns(allocator_,
                      blocked ? sgemm::blocked_rhs_size(s.patch(), s.pixels()) * sizeof(float)
                      : s.is_pointwise() ? 0
                                         : s.patch() * s.pixels() * sizeof(float),
                      sample_workers(s.N));
      Scratch packed(allocator_, sgemm::packed_lhs_size(s.O, s.patch()) * sizeof(float), 1);
      sgemm::pack_lhs(typed<T>(weight), s.O, s.patch(), s.patch(), 1, packed.get<float>(0));
      for_each_sample(s.N, [&](int64_t n, int worker) {
        const T* x_n = px + n * s.x_batch_stride;
        T* y_n = py + n * s.y_batch_stride;
        if (blocked) {
          im2col_blocked(x_n, columns.get<T>(worker), s);
          sgemm::multiply_blocked(packed.get<float>(0), s.O, s.patch(), columns.get<T>(worker),
                                  s.pixels(), y_n, s.pixels(), false);
          add_bias(y_n);
          return;
        }
        const T* col = x_n;
        if (!s.is_pointwise()) {
          im2col(x_n, columns.get<T>(worker), s);
          col = columns.get<T>(worker);
        }
        sgemm::multiply(packed.get<float>(0), s.O, s.patch(), col, s.pixels(), 1, s.pixels(), y_n,
                        s.pixels(), false);
        add_bias(y_n);
      });
    } else {
      Scratch scratch(allocator_, s.is_pointwise() ? 0 : s.patch() * s.pixels() * sizeof(T),
                      sample_workers(s.N));
      const ConstMatrixMap<T> w(typed<T>(weight), s.O, s.patch());
      for_each_sample(s.N, [&](int64_t n, int worker) {
        const T* x_n = px + n * s.x_batch_stride;
        const T* col = x_n;
        if (!s.is_pointwise()) {
          im2col(x_n, scratch.get<T>(worker), s);
          col = scratch.get<T>(worker);
        }
        MatrixMap<T>(py + n * s.y_batch_stride, s.O, s.pixels()).noalias() =
            w * ConstMatrixMap<T>(col, s.patch(), s.pixels());
        add_bias(py + n * s.y_batch_stride);
      });
    }
  });
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                       const Tensor& grad_x, backend::ConvGeometry g) {
  const ConvShape s = conv_shape(grad_x, weight, grad_out, g);
  dispatch_floating(grad_x.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = typed<T>(grad_out);
    T* pgx = typed<T>(grad_x);
    Scratch scratch(allocator_, s.is_pointwise() ? 0 : s.patch() * s.pixels() * sizeof(T),
                    sample_workers(s.N));
    // col_n[patch, P] = w^T[patch, O] g_n[O, P], then scattered back onto the image (col2im).
    auto scatter = [&](T* gx_n, int worker) {
      std::fill(gx_n, gx_n + s.C * s.H * s.W, T(0));
      col2im_add(scratch.get<T>(worker), gx_n, s);
    };
    if constexpr (std::is_same_v<T, float>) {
      if (bf16_operands()) {
        Scratch packed(allocator_, bf16_gemm::packed_lhs_size(s.patch(), s.O) * sizeof(uint32_t),
                       1);
        bf16_gemm::pack_lhs(typed<T>(weight), s.patch(), s.O, 1, s.patch(),
                            packed.get<uint32_t>(0));
        for_each_sample(s.N, [&](int64_t n, int worker) {
          T* gx_n = pgx + n * s.x_batch_stride;
          T* col = s.is_pointwise() ? gx_n : scratch.get<T>(worker);
          bf16_gemm::multiply(packed.get<uint32_t>(0), s.patch(), s.O, pg + n * s.y_batch_stride,
                              s.pixels(), 1, s.pixels(), col, s.pixels(), false);
          if (!s.is_pointwise()) scatter(gx_n, worker);
        });
        return;
      }
    }
    if constexpr (kPackedGemm<T>) {
      Scratch packed(allocator_, sgemm::packed_lhs_size(s.patch(), s.O) * sizeof(float), 1);
      sgemm::pack_lhs(typed<T>(weight), s.patch(), s.O, 1, s.patch(), packed.get<float>(0));
      for_each_sample(s.N, [&](int64_t n, int worker) {
        T* gx_n = pgx + n * s.x_batch_stride;
        T* col = s.is_pointwise() ? gx_n : scratch.get<T>(worker);
        sgemm::multiply(packed.get<float>(0), s.patch(), s.O, pg + n * s.y_batch_stride, s.pixels(),
                        1, s.pixels(), col, s.pixels(), false);
        if (!s.is_pointwise()) scatter(gx_n, worker);
      });
    } else {
      const ConstMatrixMap<T> w(typed<T>(weight), s.O, s.patch());
      for_each_sample(s.N, [&](int64_t n, int worker) {
        const ConstMatrixMap<T> g_n(pg + n * s.y_batch_stride, s.O, s.pixels());
        T* gx_n = pgx + n * s.x_batch_stride;
        T* col = s.is_pointwise() ? gx_n : scratch.get<T>(worker);
        MatrixMap<T>(col, s.patch(), s.pixels()).noalias() = w.transpose() * g_n;
        if (!s.is_pointwise()) scatter(gx_n, worker);
      });
    }
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_out, const Tensor& x,
                                        const Tensor& grad_w, backend::ConvGeometry g) {
  const ConvShape s = conv_shape(x, grad_w, grad_out, g);
  dispatch_floating(x.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = typed<T>(grad_out);
    const T* px = typed<T>(x);
    Scratch columns(allocator_, s.is_pointwise() ? 0 : s.patch() * s.pixels() * sizeof(T),
                    sample_workers(s.N));
    auto columns_of = [&](int64_t n, int worker) {
      const T* x_n = px + n * s.x_batch_stride;
      if (s.is_pointwise()) return x_n;
      im2col(x_n, columns.get<T>(worker), s);
      return static_cast<const T*>(columns.get<T>(worker));
    };
    // One partial weight gradient per group of samples, summed in group order at the end
    // (groups, not threads, so the sum is the same whichever thread ran a group): [O, patch],
    // or its transpose [patch, O] for the dot products.
    const int64_t groups =
        samples_in_parallel(s.N) ? std::min<int64_t>(s.N, num_threads() * kChunksPerThread) : 1;
    Scratch partials(allocator_, s.O * s.patch() * sizeof(T), static_cast<int>(groups));
    for (int i = 0; i < groups; ++i) MatrixMap<T>(partials.get<T>(i), s.O, s.patch()).setZero();
    MatrixMap<T> gw(typed<T>(grad_w), s.O, s.patch());
    if constexpr (std::is_same_v<T, float>) {
      if (bf16_operands()) {
        // partial^T[patch, O] += sum_n col_n[patch, P] g_n^T[P, O]: dot products along the pixel
        // rows of both, each rounded to bfloat16 once (pixels padded to even). Small images lay
        // the rows of several samples side by side, so that every dot product is long enough
        // to pay for its final sum across lanes.
        const int64_t pixels = (s.pixels() + 1) / 2 * 2;
        const int64_t stack = std::max<int64_t>(1, kBf16DotMinDepth / pixels);
        const int64_t ld = stack * pixels;
        Scratch rounded(allocator_, (s.patch() + s.O) * ld * sizeof(uint16_t),
                        sample_workers(s.N));
        for_each_sample_group(s.N, groups, [&](int64_t first, int64_t last, int64_t group,
                                               int worker) {
          uint16_t* col16 = rounded.get<uint16_t>(worker);
          uint16_t* g16 = col16 + s.patch() * ld;
          for (int64_t n0 = first; n0 < last; n0 += stack) {
            const int64_t count = std::min(stack, last - n0);
            for (int64_t j = 0; j < count; ++j) {
              bf16_gemm::round_rows(columns_of(n0 + j, worker), s.patch(), s.pixels(), s.pixels(),
                                    col16 + j * pixels, ld);
              bf16_gemm::round_rows(pg + (n0 + j) * s.y_batch_stride, s.O, s.pixels(), s.pixels(),
                                    g16 + j * pixels, ld);
            }
            bf16_gemm::multiply_add_transposed(col16, s.patch(), ld, g16, s.O, ld,
                                               count * pixels,
                                               partials.get<T>(static_cast<int>(group)), s.O);
          }
        });
        gw = MatrixMap<T>(partials.get<T>(0), s.patch(), s.O).transpose();
        for (int i = 1; i < groups; ++i)
          gw += MatrixMap<T>(partials.get<T>(i), s.patch(), s.O).transpose();
        return;
      }
    }
    if constexpr (kPackedGemm<T>) {
      if (s.pixels() >= kDotProductMinPixels) {
        // partial^T[patch, O] += col_n[patch, P] g_n^T[P, O]: dot products along the pixel rows
        // of both, nothing to pack or transpose.
        for_each_sample_group(s.N, groups, [&](int64_t first, int64_t last, int64_t group,
                                               int worker) {
          for (int64_t n = first; n < last; ++n)
            sgemm::multiply_add_transposed(columns_of(n, worker), s.patch(), s.pixels(),
                                           pg + n * s.y_batch_stride, s.O, s.pixels(), s.pixels(),
                                           partials.get<T>(static_cast<int>(group)), s.O);
        });
        gw = MatrixMap<T>(partials.get<T>(0), s.patch(), s.O).transpose();
        for (int i = 1; i < groups; ++i)
          gw += MatrixMap<T>(partials.get<T>(i), s.patch(), s.O).transpose();
        return;
      }
    }
    // partial[O, patch] += g_n[O, P] col_n^T[P, patch]
    for_each_sample_group(s.N, groups, [&](int64_t first, int64_t last, int64_t group,
                                           int worker) {
      for (int64_t n = first; n < last; ++n)
        MatrixMap<T>(partials.get<T>(static_cast<int>(group)), s.O, s.patch()).noalias() +=
            ConstMatrixMap<T>(pg + n * s.y_batch_stride, s.O, s.pixels()) *
            ConstMatrixMap<T>(columns_of(n, worker), s.patch(), s.pixels()).transpose();
    });
    gw = MatrixMap<T>(partials.get<T>(0), s.O, s.patch());
    for (int i = 1; i < groups; ++i) gw += MatrixMap<T>(partials.get<T>(i), s.O, s.patch());
  });
}

}  // namespace onestep::cpu_backend
