// The CUDA reduce method against the CPU backend, over every path of the kernel: few long
// reductions split over blocks, one block per output, one thread per output (many outputs over
// a strided reduction), non-adjacent and empty dim sets, transposed inputs, empty reductions
// and NaN propagation.

#include <cmath>

#include "../../../engine/src/backend.h"
#include "cuda_test_util.h"

namespace onestep {
namespace {

using backend::ReduceOp;
using cuda_testing::compare;
using cuda_testing::gpu;
using cuda_testing::poisoned;

struct ReduceCase {
  const char* name;
  Shape shape;
  std::vector<int64_t> dims;
  bool transposed = false;  // reduce a view with the first two dims swapped
};

std::vector<ReduceCase> reduce_cases() {
  return {{"middle dim", {7, 9, 5}, {1}},
          {"non-adjacent dims", {7, 9, 5}, {0, 2}},
          {"no dims", {7, 9, 5}, {}},
          {"every dim", {7, 9, 5}, {0, 1, 2}},
          {"transposed, dim 0", {9, 7}, {0}, true},
          {"transposed, dims 1,2", {6, 4, 5}, {1, 2}, true},
          {"few long rows (split over blocks)", {3, 100003}, {1}},
          {"few long strided columns", {100003, 3}, {0}},
          {"one huge row", {1000003}, {0}},
          {"many strided columns (thread per output)", {6, 140001}, {0}},
          {"many short rows", {50000, 7}, {1}},
          {"empty reduction", {4, 0}, {1}}};
}

Tensor view_of(const Tensor& t, bool transposed) {
  return transposed ? t.transpose(0, 1) : t;
}

Shape keepdim(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape out = shape;
  for (int64_t d : dims) out[d] = 1;
  return out;
}

Tensor run_reduce(backend::Backend& be, ReduceOp op, const Tensor& x,
                  const std::vector<int64_t>& dims, Device device) {
  const Tensor out = poisoned(keepdim(x.shape(), dims), x.dtype(), device);
  be.reduce(op, x, dims, out);
  return out;
}

TEST(CudaReduce, SumMaxMinMatchTheCpuOnEveryPath) {
  ONESTEP_REQUIRE_CUDA();
  for (const ReduceCase& c : reduce_cases()) {
    for (DType dtype : {DType::f32, DType::f64, DType::i64}) {
      Rng gen(21);
      // Stored in the pre-transpose shape, so that the view has c.shape.
      Shape stored = c.shape;
      if (c.transposed) std::swap(stored[0], stored[1]);
      const Tensor data = dtype == DType::i64 ? randint(-1000, 1000, stored, gen)
                                              : (randn(stored, gen, DType::f64) + 0.3).to(dtype);
      const Tensor x = view_of(data, c.transposed);
      const Tensor xg = view_of(data.to(gpu()), c.transposed);
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
        SCOPED_TRACE(fmt::format("{} {} op {}", c.name, dtype_name(dtype), static_cast<int>(op)));
        const Tensor actual = run_reduce(backend::cuda(0), op, xg, c.dims, gpu());
        if (op != ReduceOp::sum || dtype == DType::i64) {
          // max, min and integer sums involve no rounding.
          const Tensor expected = run_reduce(backend::cpu(), op, x, c.dims, Device::cpu());
          EXPECT_EQ(cuda_testing::compare_exact(actual, expected), "");
          continue;
        }
        // Sums: against the f64 sum of the same values. f32 accumulates in f64 on the GPU, so
        // only its final rounding remains; f64 sums differ from the CPU's by summation order.
        const Tensor x64 = x.to(DType::f64);
        const Tensor expected = run_reduce(backend::cpu(), op, x64, c.dims, Device::cpu());
        const Tensor magnitude = run_reduce(backend::cpu(), op, abs(x64), c.dims, Device::cpu());
        const double scale = 1.0 + (magnitude.numel() ? amax(magnitude).item() : 0.0);
        const double atol = dtype == DType::f32 ? 1e-7 * scale : 1e-14 * scale;
        const double rtol = dtype == DType::f32 ? 1.2e-7 : 0.0;
        EXPECT_EQ(compare(actual, expected, atol, rtol), "");
      }
    }
  }
}

TEST(CudaReduce, MaxAndMinPropagateNaNLikeTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    Rng gen(22);
    const Tensor x = randn({4, 3000}, gen, dtype);
    {
      NoGradGuard no_grad;
      x.select(0, 1).select(0, 2500).fill_(std::nan(""));  // row 1, late in the row
      x.select(0, 3).select(0, 0).fill_(std::nan(""));     // row 3, first element
    }
    for (ReduceOp op : {ReduceOp::max, ReduceOp::min, ReduceOp::sum}) {
      for (const std::vector<int64_t>& dims : {std::vector<int64_t>{1}, {0}, {0, 1}}) {
        const Tensor expected = run_reduce(backend::cpu(), op, x, dims, Device::cpu());
        const Tensor actual = run_reduce(backend::cuda(0), op, x.to(gpu()), dims, gpu());
        // NaN positions must agree exactly; the finite sums to rounding.
        EXPECT_EQ(compare(actual, expected, 1e-3, 1e-5), "")
            << dtype_name(dtype) << " op " << static_cast<int>(op) << " dims " << dims.size();
      }
    }
  }
}

TEST(CudaReduce, PublicReductionsAgreeWithTheCpu) {
  ONESTEP_REQUIRE_CUDA();
  Rng gen(23);
  const Tensor x = randn({16, 8, 12, 12}, gen, DType::f64);
  const Tensor xg = x.to(gpu());
  // The reductions of a group norm and of a conv bias gradient.
  EXPECT_EQ(compare(sum(xg, {0, 2, 3}), sum(x, {0, 2, 3}), 1e-12, 1e-12), "");
  EXPECT_EQ(compare(mean(xg, {2, 3}), mean(x, {2, 3}), 1e-13, 1e-12), "");
  EXPECT_EQ(compare(var(xg, {1, 2, 3}), var(x, {1, 2, 3}), 1e-13, 1e-12), "");
  EXPECT_EQ(compare(amax(xg), amax(x), 0, 0), "");
  EXPECT_EQ(compare(amin(xg, {1}), amin(x, {1}), 0, 0), "");
}

}  // namespace
}  // namespace onestep
