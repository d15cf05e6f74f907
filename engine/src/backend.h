#pragma once
// The interface every device backend implements. Ops validate shapes, allocate outputs and record
// autograd; then they make one call here on the backend of the output's device. Tensors passed
// in may be arbitrary strided views unless a method says "contiguous"; binary and ternary
// operands arrive already broadcast (stride 0) to the output's shape.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "onestep/engine/memory.h"
#include "onestep/engine/tensor.h"

namespace onestep::backend {

enum class UnaryOp {
  affine,  // x * p0 + p1
  pow,     // x ^ p0
  clamp,   // min(max(x, p0), p1)
  exp,
  log,
  sin,
  cos,
  sqrt,
  rsqrt,
  abs,
  sign,
  sigmoid,
  softplus,
  tanh,
  silu,
  relu,
  reciprocal,
  isfinite,   // 1 or 0
  gt_scalar,  // x > p0 ? 1 : 0, likewise below
  lt_scalar,
  ge_scalar,
  le_scalar,
  eq_scalar,
};

// The scalars of a unary op on i64 tensors, for both backends alike: affine's scale and shift,
// which must be integers (else the result could not be exact; an error), and clamp's bounds
// rounded inward (ceil of the lower, floor of the upper), which clamps integers exactly; {0, 0}
// for the ops that take none (comparisons read their double threshold directly).
struct IntegerScalars {
  int64_t a, b;
};
IntegerScalars integer_scalars(UnaryOp op, double p0, double p1);

enum class BinaryOp { add, sub, mul, div, minimum, maximum, gt, lt, ge, le, eq };

enum class ReduceOp { sum, max, min };

enum class RandomKind { uniform, normal, randint };

struct ConvGeometry {
  int64_t stride = 1;
  int64_t padding = 0;
};

// One parameter of a fused Adam update (onestep/engine/adam.h): four contiguous tensors of one
// shape and dtype on the backend's device, and the parameter's bias corrections folded in:
// step_size = lr / (1 - beta1^t), denom_scale = 1 / sqrt(1 - beta2^t).
struct AdamTensors {
  Tensor param, grad, exp_avg, exp_avg_sq;
  double step_size, denom_scale;
};

struct AdamConstants {
  double beta1, beta2, eps, weight_decay;
  bool decoupled;       // AdamW: param *= decay_factor first, g is not decayed
  double decay_factor;  // 1 - lr * weight_decay
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  virtual MemoryStats memory_stats() = 0;
  virtual void reset_peak_memory() = 0;
  virtual void empty_cache() = 0;

  // Host <-> this device, contiguous bytes.
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;

  // dst = src elementwise (same shape), converting dtype.
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  virtual void fill(const Tensor& dst, double value) = 0;
  // dst (contiguous) [i] = start + i * step
  virtual void arange(const Tensor& dst, double start, double step) = 0;

  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;

  // out has x's shape with size 1 in every reduced dim (dims sorted, unique).
  virtual void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                      const Tensor& out) = 0;

  // out[b] = a[b] @ bm[b]; a: [B, M, K], bm: [B, K, N], out: [B, M, N] contiguous.
  // A batch stride of 0 broadcasts that operand.
  virtual void matmul(const Tensor& a, const Tensor& bm, const Tensor& out) = 0;

  // Convolution on NCHW tensors whose samples are each contiguous (any batch stride); weight
  // [O, C, kh, kw] contiguous.
  virtual void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& out,
                              ConvGeometry g) = 0;
  virtual void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                     const Tensor& grad_x, ConvGeometry g) = 0;
  virtual void conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Tensor& grad_w,
                                      ConvGeometry g) = 0;

  // x viewed as contiguous [outer, n, inner]; index: contiguous i64 [k], each in [0, n).
  // index_select: out [outer, k, inner]. index_add: out[:, index[j], :] += src[:, j, :].
  virtual void index_select(const Tensor& x, const Tensor& index, const Tensor& out, int64_t outer,
                            int64_t n, int64_t inner) = 0;
  virtual void index_add(const Tensor& src, const Tensor& index, const Tensor& out, int64_t outer,
                         int64_t n, int64_t inner) = 0;

  // Fills contiguous `out` from Philox(seed) starting at `counter`, in the layout philox.h
  // documents.
  virtual void random(RandomKind kind, const Tensor& out, uint64_t seed, uint64_t counter,
                      double p0, double p1) = 0;

  // conv2d_forward, then out[:, o] += bias[o] (bias: contiguous [O]) in the same pass over the
  // output. A backend without it returns false and the op adds the bias as a separate
  // broadcast add.
  virtual bool conv2d_forward_with_bias(const Tensor& /*x*/, const Tensor& /*weight*/,
                                        const Tensor& /*bias*/, const Tensor& /*out*/,
                                        ConvGeometry /*g*/) {
    return false;
  }

  // Fused group normalisation, optionally followed by SiLU. A backend without these kernels
  // returns false and the op runs its composite of elementwise ops and reductions instead.
  // x, out: contiguous [N, C, S]; weight, bias: contiguous [C] or undefined; mean, rstd:
  // contiguous [N, groups], written by the forward pass (statistics of x per sample and group).
  virtual bool group_norm_forward(const Tensor& /*x*/, const Tensor& /*weight*/,
                                  const Tensor& /*bias*/, int64_t /*groups*/, double /*eps*/,
                                  bool /*silu*/, const Tensor& /*out*/, const Tensor& /*mean*/,
                                  const Tensor& /*rstd*/) {
    return false;
  }
  // Gradients from grad_out [N, C, S] (contiguous) and the forward's x, mean, rstd: grad_x
  // [N, C, S], and grad_weight, grad_bias [C] where defined.
  virtual bool group_norm_backward(const Tensor& /*grad_out*/, const Tensor& /*x*/,
                                   const Tensor& /*weight*/, const Tensor& /*bias*/,
                                   const Tensor& /*mean*/, const Tensor& /*rstd*/,
                                   int64_t /*groups*/, bool /*silu*/, const Tensor& /*grad_x*/,
                                   const Tensor& /*grad_weight*/, const Tensor& /*grad_bias*/) {
    return false;
  }

  // The Adam update of every entry (all of one dtype), computing each element as
  // reference::adam_update does, in the tensors' precision. A backend without the kernel
  // returns false and the op runs the composite.
  virtual bool adam_update(const std::vector<AdamTensors>& /*parameters*/,
                           const AdamConstants& /*constants*/) {
    return false;
  }
};

Backend& get(Device device);
Backend& cpu();
// Defined in backends/cuda (or no_cuda.cpp, which throws a clear error).
Backend& cuda(int index);

}  // namespace onestep::backend
