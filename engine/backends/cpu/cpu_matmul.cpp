// Batched GEMM on Eigen. Each operand arrives with a unit stride in one of its two matrix dims
// (ops/matmul.cpp makes a copy otherwise), so Eigen maps it directly, row- or column-major.
// float32 under MatmulPrecision::bf16 runs the bfloat16 GEMM of cpu_bf16_gemm.h instead.

#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "cpu_backend.h"
#include "cpu_bf16_gemm.h"
#include "onestep/engine/precision.h"
#include "parallel.h"

namespace onestep::cpu_backend {

namespace {

// Below this much work a chunk costs more to hand to another thread than to do.
constexpr int64_t kMinMultiplyAddsPerChunk = 1 << 15;

template <class T>
using RowMajorMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
               Eigen::OuterStride<>>;
template <class T>
using ColMajorMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0,
               Eigen::OuterStride<>>;

// Calls f with an Eigen map of the rows x cols matrix at p with the given strides.
template <class T, class F>
void with_matrix(const T* p, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride,
                 const F& f) {
  // A dim of size 1 never steps, so its stride is free; ops/matmul.cpp guarantees a unit
  // stride in one dim and positive strides in both.
  if (col_stride == 1 || cols == 1) {
    f(RowMajorMap<T>(p, rows, cols, Eigen::OuterStride<>(rows == 1 ? cols : row_stride)));
  } else {
    f(ColMajorMap<T>(p, rows, cols, Eigen::OuterStride<>(cols == 1 ? rows : col_stride)));
  }
}

template <class T>
void gemm_batch(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t batch = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  const T* pa = typed<T>(a);
  const T* pb = typed<T>(b);
  T* po = typed<T>(out);
  // Rows [lo, hi) of product i.
  auto rows_of = [&](int64_t i, int64_t lo, int64_t hi) {
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> result(
        po + i * M * N, M, N);
    if (K == 0) {
      result.middleRows(lo, hi - lo).setZero();
      return;
    }
    with_matrix<T>(pa + i * a.strides()[0], M, K, a.strides()[1], a.strides()[2],
                   [&](const auto& ma) {
                     with_matrix<T>(pb + i * b.strides()[0], K, N, b.strides()[1], b.strides()[2],
                                    [&](const auto& mb) {
                                      result.middleRows(lo, hi - lo).noalias() =
                                          ma.middleRows(lo, hi - lo) * mb;
                                    });
                   });
  };
  // Many small products: whole products per thread. Few large ones: one at a time, its rows
  // split over threads (Eigen runs single-threaded; our pool does the threading).
  if (batch >= num_threads() && batch > 1) {
    parallel_for(0, batch, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) rows_of(i, 0, M);
    });
    return;
  }
  const int64_t row_grain =
      std::max<int64_t>(1, kMinMultiplyAddsPerChunk / std::max<int64_t>(N * K, 1));
  for (int64_t i = 0; i < batch; ++i)
    parallel_for(0, M, row_grain, [&](int64_t lo, int64_t hi) { rows_of(i, lo, hi); });
}

// Each product packs its A (rounding it to bfloat16) and multiplies; many small products run
// whole on each thread, few large ones split their columns over threads inside the GEMM.
void bf16_gemm_batch(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t batch = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  const float* pa = typed<float>(a);
  const float* pb = typed<float>(b);
  float* po = typed<float>(out);
  auto product = [&](int64_t i, std::vector<uint32_t>& packed) {
    packed.resize(bf16_gemm::packed_lhs_size(M, K));
    bf16_gemm::pack_lhs(pa + i * a.strides()[0], M, K, a.strides()[1], a.strides()[2],
                        packed.data());
    bf16_gemm::multiply(packed.data(), M, K, pb + i * b.strides()[0], b.strides()[1],
                        b.strides()[2], N, po + i * M * N, N, false);
  };
  if (batch >= num_threads() && batch > 1) {
    parallel_for(0, batch, 1, [&](int64_t lo, int64_t hi) {
      std::vector<uint32_t> packed;
      for (int64_t i = lo; i < hi; ++i) product(i, packed);
    });
    return;
  }
  std::vector<uint32_t> packed;
  for (int64_t i = 0; i < batch; ++i) product(i, packed);
}

}  // namespace

void CpuBackend::matmul(const Tensor& a, const Tensor& bm, const Tensor& out) {
  if (out.dtype() == DType::f32 && matmul_precision() == MatmulPrecision::bf16)
    return bf16_gemm_batch(a, bm, out);
  dispatch_floating(out.dtype(), "matmul",
                    [&](auto tag) { gemm_batch<decltype(tag)>(a, bm, out); });
}

}  // namespace onestep::cpu_backend
