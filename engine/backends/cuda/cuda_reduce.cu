// Reductions (sum, max, min) over any set of dims of a strided tensor, without copying it.
// The kept dims and the reduced dims each get their own coalesced plan: the kept plan maps an
// output index to (out offset, x base offset), the reduced plan maps a reduction index to an
// offset from that base. Two kernels:
//   - one thread per output, looping over the reduction: when outputs are many and the reduced
//     elements are not contiguous (a column sum: neighbouring threads read neighbouring memory);
//   - one block per output (and, for few long reductions, several blocks per output writing
//     partial results that a second pass combines): when the reduced elements are contiguous or
//     the outputs are too few to fill the GPU.
// Every path combines in a fixed order, so results are deterministic run to run. f32 sums
// accumulate in f64 (reductions are memory-bound, so the wider adds are free), which makes them
// at least as accurate as the CPU's f32 accumulation; max and min propagate NaN like NumPy.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda_backend.h"
#include "launch.cuh"
#include "strided_indexer.cuh"

namespace onestep::cuda_backend {

using backend::ReduceOp;

namespace {

template <class T, ReduceOp kOp>
struct Reducer {
  // Accumulator type: f64 for floating sums, the element type otherwise.
  using Acc = std::conditional_t<kOp == ReduceOp::sum && std::is_floating_point_v<T>, double, T>;

  __device__ static Acc identity() {
    if constexpr (kOp == ReduceOp::sum) {
      return Acc(0);
    } else if constexpr (std::is_floating_point_v<T>) {
      return kOp == ReduceOp::max ? -T(INFINITY) : T(INFINITY);
    } else {
      return kOp == ReduceOp::max ? INT64_MIN : INT64_MAX;
    }
  }
  // As cpu_reduce.cpp's combine: a NaN operand wins max and min.
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (kOp == ReduceOp::sum) {
      return a + b;
    } else if constexpr (kOp == ReduceOp::max) {
      return (b > a || b != b) ? b : a;
    } else {
      return (b < a || b != b) ? b : a;
    }
  }
};

template <class Index>
struct ReducePlans {
  StridedIndexer<2, Index> kept;     // operands: 0 out, 1 x
  StridedIndexer<1, Index> reduced;  // operand: x
};

// One thread per output o < O: out[o] = reduce over r < R of x[base(o) + offset(r)].
template <class T, ReduceOp kOp, class Index>
__global__ void reduce_per_thread_kernel(const T* x, T* out, ReducePlans<Index> plans, int64_t O,
                                         int64_t R) {
  using Op = Reducer<T, kOp>;
  ONESTEP_GRID_STRIDE_LOOP(o, O) {
    Index ko[2];
    plans.kept.offsets(static_cast<Index>(o), ko);
    typename Op::Acc acc = Op::identity();
    for (int64_t r = 0; r < R; ++r) {
      Index ro[1];
      plans.reduced.offsets(static_cast<Index>(r), ro);
      acc = Op::combine(acc, static_cast<typename Op::Acc>(x[ko[1] + ro[0]]));
    }
    out[ko[0]] = static_cast<T>(acc);
  }
}

// Block (o, split) reduces elements [split*seg, (split+1)*seg) of output o's reduction, with a
// tree in shared memory. One split: the result goes to out; several: to partial[o, split].
template <class T, ReduceOp kOp, class Index>
__global__ void reduce_per_block_kernel(const T* x, T* out, typename Reducer<T, kOp>::Acc* partial,
                                        ReducePlans<Index> plans, int64_t O, int64_t R,
                                        int64_t segment) {
  using Op = Reducer<T, kOp>;
  using Acc = typename Op::Acc;
  const auto shared = dynamic_shared_memory<Acc>();
  const int64_t splits = gridDim.y, split = blockIdx.y;
  const int64_t begin = split * segment, end = begin + segment < R ? begin + segment : R;
  for (int64_t o = blockIdx.x; o < O; o += gridDim.x) {
    Index ko[2];
    plans.kept.offsets(static_cast<Index>(o), ko);
    Acc acc = Op::identity();
    for (int64_t r = begin + threadIdx.x; r < end; r += blockDim.x) {
      Index ro[1];
      plans.reduced.offsets(static_cast<Index>(r), ro);
      acc = Op::combine(acc, static_cast<Acc>(x[ko[1] + ro[0]]));
    }
    shared[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned width = blockDim.x / 2; width > 0; width /= 2) {
      if (threadIdx.x < width)
        shared[threadIdx.x] = Op::combine(shared[threadIdx.x], shared[threadIdx.x + width]);
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      if (splits == 1) {
        out[ko[0]] = static_cast<T>(shared[0]);
      } else {
        partial[o * splits + split] = shared[0];
      }
    }
    __syncthreads();  // shared[] is reused by the next output
  }
}

// out[o] = combine of partial[o, 0 .. splits), in order.
template <class T, ReduceOp kOp, class Index>
__global__ void reduce_partials_kernel(const typename Reducer<T, kOp>::Acc* partial, T* out,
                                       StridedIndexer<2, Index> kept, int64_t O, int64_t splits) {
  using Op = Reducer<T, kOp>;
  ONESTEP_GRID_STRIDE_LOOP(o, O) {
    Index ko[2];
    kept.offsets(static_cast<Index>(o), ko);
    typename Op::Acc acc = Op::identity();
    for (int64_t s = 0; s < splits; ++s) acc = Op::combine(acc, partial[o * splits + s]);
    out[ko[0]] = static_cast<T>(acc);
  }
}

struct ReduceGeometry {
  StridedPlan<2> kept;
  StridedPlan<1> reduced;
  int64_t O = 1, R = 1;
};

ReduceGeometry reduce_geometry(const Tensor& x, const std::vector<int64_t>& dims,
                               const Tensor& out) {
  Shape kept_shape, kept_out_strides, kept_x_strides, reduced_shape, reduced_strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (std::binary_search(dims.begin(), dims.end(), d)) {
      reduced_shape.push_back(x.size(d));
      reduced_strides.push_back(x.strides()[d]);
    } else {
      kept_shape.push_back(x.size(d));
      kept_out_strides.push_back(out.strides()[d]);
      kept_x_strides.push_back(x.strides()[d]);
    }
  }
  ReduceGeometry g;
  g.kept = make_plan<2>(kept_shape, {&kept_out_strides, &kept_x_strides}, "reduce");
  g.reduced = make_plan<1>(reduced_shape, {&reduced_strides}, "reduce");
  g.O = g.kept.numel;
  g.R = g.reduced.numel;
  return g;
}

template <class T, ReduceOp kOp, class Index>
void launch_reduce(CudaBackend& be, const Tensor& x, const Tensor& out, const ReduceGeometry& g) {
  using Acc = typename Reducer<T, kOp>::Acc;
  const ReducePlans<Index> plans{g.kept.template indexer<Index>(),
                                 g.reduced.template indexer<Index>()};
  const int64_t O = g.O, R = g.R;
  const int sms = be.sm_count();
  const bool reduced_contiguous = g.reduced.strides[0][g.reduced.ndim - 1] == 1;
  const int64_t enough_outputs = int64_t{sms} * kThreads * 4;
  if (R == 0 || (!reduced_contiguous && O >= enough_outputs)) {
    ONESTEP_LAUNCH(blocks_for(O, sms), kThreads, 0, be.stream(),
                   reduce_per_thread_kernel<T, kOp, Index>)(typed<T>(x), typed<T>(out), plans, O,
                                                            R);
    return;
  }
  // A block as wide as the reduction needs, a power of two from one warp to kThreads.
  int threads = 32;
  while (threads < kThreads && threads < R) threads *= 2;
  // Few outputs and long reductions: split each reduction over several blocks so that the
  // grid fills every SM, with at least a few thousand elements per block.
  const int64_t wanted_blocks = int64_t{sms} * 4;
  int64_t splits = 1;
  if (O < wanted_blocks)
    splits = std::clamp<int64_t>(
        std::min(wanted_blocks / std::max<int64_t>(O, 1), R / (int64_t{threads} * 16)), 1, 65535);
  const int64_t segment = (R + splits - 1) / splits;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(O, 1 << 20)),
                  static_cast<unsigned>(splits));
  const size_t shared = threads * sizeof(Acc);
  if (splits == 1) {
    ONESTEP_LAUNCH(grid, threads, shared, be.stream(), reduce_per_block_kernel<T, kOp, Index>)(
        typed<T>(x), typed<T>(out), nullptr, plans, O, R, segment);
    return;
  }
  CudaBackend::Scratch partial(be, O * splits * sizeof(Acc));
  ONESTEP_LAUNCH(grid, threads, shared, be.stream(), reduce_per_block_kernel<T, kOp, Index>)(
      typed<T>(x), typed<T>(out), partial.get<Acc>(), plans, O, R, segment);
  ONESTEP_LAUNCH(blocks_for(O, sms), kThreads, 0, be.stream(),
                 reduce_partials_kernel<T, kOp, Index>)(partial.get<Acc>(), typed<T>(out),
                                                        plans.kept, O, splits);
}

template <class T, ReduceOp kOp>
void reduce_typed(CudaBackend& be, const Tensor& x, const Tensor& out, const ReduceGeometry& g) {
  // The kept and reduced offsets are added on the device: both and their sum must fit.
  const bool fits_int32 = g.kept.fits_int32 && g.reduced.fits_int32 &&
                          g.kept.extent(1) + g.reduced.extent(0) <= kInt32Limit &&
                          g.O * g.R <= kInt32Limit;
  if (fits_int32) {
    launch_reduce<T, kOp, int32_t>(be, x, out, g);
  } else {
    launch_reduce<T, kOp, int64_t>(be, x, out, g);
  }
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                         const Tensor& out) {
  if (out.numel() == 0) return;
  activate();
  const ReduceGeometry g = reduce_geometry(x, dims, out);
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::sum:
        return reduce_typed<T, ReduceOp::sum>(*this, x, out, g);
      case ReduceOp::max:
        return reduce_typed<T, ReduceOp::max>(*this, x, out, g);
      case ReduceOp::min:
        return reduce_typed<T, ReduceOp::min>(*this, x, out, g);
    }
  });
}

}  // namespace onestep::cuda_backend
