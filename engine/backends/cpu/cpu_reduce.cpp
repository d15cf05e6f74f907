// Reductions. x is brought to the form [O, R, I] (reduce the middle dim): directly when it is
// contiguous and the reduced dims are adjacent, else through a permuted contiguous copy.

#include <Eigen/Core>
#include <limits>
#include <numeric>

#include "cpu_backend.h"
#include "onestep/engine/creation.h"
#include "strided_loop.h"

namespace onestep::cpu_backend {

using backend::ReduceOp;

namespace {

template <class T>
using RowMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class T>
T identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return T(0);
    case ReduceOp::max:
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::lowest();
    case ReduceOp::min:
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::max();
  }
  return T(0);
}

template <class T>
T combine(ReduceOp op, T a, T b) {
  switch (op) {
    case ReduceOp::sum:
      return a + b;
    case ReduceOp::max:
      return (b > a || b != b) ? b : a;  // NaN wins, as in NumPy
    case ReduceOp::min:
      return (b < a || b != b) ? b : a;
  }
  return a;
}

template <class T>
T reduce_row(ReduceOp op, const T* x, int64_t n) {
  if (n == 0) return identity<T>(op);
  const RowMap<T> row(x, n);
  switch (op) {
    case ReduceOp::sum:
      return row.sum();
    case ReduceOp::max:
      return row.hasNaN() ? std::numeric_limits<T>::quiet_NaN() : row.maxCoeff();
    case ReduceOp::min:
      return row.hasNaN() ? std::numeric_limits<T>::quiet_NaN() : row.minCoeff();
  }
  return T(0);
}

template <>
int64_t reduce_row<int64_t>(ReduceOp op, const int64_t* x, int64_t n) {
  int64_t acc = identity<int64_t>(op);
  for (int64_t i = 0; i < n; ++i) acc = combine(op, acc, x[i]);
  return acc;
}

// out[o, i] = reduce_r x[o, r, i]
template <class T>
void reduce_ori(ReduceOp op, const T* x, T* out, int64_t O, int64_t R, int64_t I) {
  const int threads = num_threads();
  if (I == 1) {
    if (O >= threads || O * R < kElementwiseGrain) {
      parallel_for(0, O, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(R, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t o = b; o < e; ++o) out[o] = reduce_row(op, x + o * R, R);
                   });
      return;
    }
    // Few long rows: split each row into parts for the threads and combine the partial results
    // in part order (the same sum whichever thread reduced a part).
    const int64_t parts = threads * kChunksPerThread;
    for (int64_t o = 0; o < O; ++o) {
      std::vector<T> partial(parts, identity<T>(op));
      parallel_for(0, parts, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t lo = R * t / parts, hi = R * (t + 1) / parts;
          partial[t] = reduce_row(op, x + o * R + lo, hi - lo);
        }
      });
      T acc = identity<T>(op);
      for (const T& p : partial) acc = combine(op, acc, p);
      out[o] = acc;
    }
    return;
  }
  // Rows of I: accumulate x[o, r, :] into out[o, :], splitting (o, i-chunk) pairs over threads.
  const int64_t chunk = std::min<int64_t>(I, 4096);
  const int64_t chunks_per_o = (I + chunk - 1) / chunk;
  parallel_for(0, O * chunks_per_o,
               std::max<int64_t>(1, kElementwiseGrain / (std::max<int64_t>(R, 1) * chunk)),
               [&](int64_t b, int64_t e) {
                 for (int64_t job = b; job < e; ++job) {
                   const int64_t o = job / chunks_per_o;
                   const int64_t i0 = (job % chunks_per_o) * chunk;
                   const int64_t n = std::min(chunk, I - i0);
                   T* acc = out + o * I + i0;
                   for (int64_t i = 0; i < n; ++i) acc[i] = identity<T>(op);
                   for (int64_t r = 0; r < R; ++r) {
                     const T* row = x + (o * R + r) * I + i0;
                     for (int64_t i = 0; i < n; ++i) acc[i] = combine(op, acc[i], row[i]);
                   }
                 }
               });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                        const Tensor& out) {
  const int64_t ndim = x.dim();
  Tensor source = x;
  int64_t O = 1, R = 1, I = 1;
  const bool adjacent =
      !dims.empty() && dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  if (x.is_contiguous() && !adjacent && dims.size() > 1) {
    // Separate blocks of dims (a conv bias gradient sums dims 0, 2, 3): reduce the last block,
    // then the rest of the now smaller result, instead of copying x into a permuted layout.
    size_t first = dims.size() - 1;
    while (first > 0 && dims[first - 1] + 1 == dims[first]) --first;
    const std::vector<int64_t> last_block(dims.begin() + static_cast<int64_t>(first), dims.end());
    const std::vector<int64_t> rest(dims.begin(), dims.begin() + static_cast<int64_t>(first));
    Shape partial_shape = x.shape();
    for (int64_t d : last_block) partial_shape[d] = 1;
    const Tensor partial = empty(partial_shape, x.dtype(), x.device());
    reduce(op, x, last_block, partial);
    reduce(op, partial, rest, out);
    return;
  }
  if (x.is_contiguous() && adjacent) {
    for (int64_t d = 0; d < dims.front(); ++d) O *= x.size(d);
    for (int64_t d : dims) R *= x.size(d);
    for (int64_t d = dims.back() + 1; d < ndim; ++d) I *= x.size(d);
  } else {
    std::vector<int64_t> order;
    for (int64_t d = 0; d < ndim; ++d)
      if (!std::binary_search(dims.begin(), dims.end(), d)) order.push_back(d);
    for (int64_t d : dims) order.push_back(d);
    const Tensor permuted = x.detach().permute(order);
    source = empty(permuted.shape(), x.dtype(), x.device());
    copy(permuted, source);
    for (int64_t d : dims) R *= x.size(d);
    O = x.numel() / std::max<int64_t>(R, 1);
    if (R == 0) O = out.numel();
  }
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    reduce_ori<T>(op, typed<T>(source), typed<T>(out), O, R, I);
  });
}

}  // namespace onestep::cpu_backend
