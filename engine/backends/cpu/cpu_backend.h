#pragma once
// The CPU backend: Eigen expressions and templated loops, threads from our pool (thread_pool.h).

#include <vector>

#include "../../src/backend.h"
#include "../../src/caching_pool.h"

namespace onestep::cpu_backend {

// The source of the CPU's caching pool: 64-byte-aligned host memory.
struct HostMemory {
  static constexpr const char* kName = "cpu allocator";
  static constexpr const char* kSystemCall = "aligned_alloc";
  void* allocate(size_t bytes);
  void free(void* ptr);
  void before_release() {}
  void handed_out(void* /*ptr*/, size_t /*bytes*/) {}
};

using CachingAllocator = detail::CachingPool<HostMemory>;

class CpuBackend final : public backend::Backend {
 public:
  void* allocate(size_t bytes) override { return allocator_.allocate(bytes); }
  void deallocate(void* ptr, size_t bytes) override { allocator_.deallocate(ptr, bytes); }
  MemoryStats memory_stats() override { return allocator_.stats(); }
  void reset_peak_memory() override { allocator_.reset_peak(); }
  void empty_cache() override { allocator_.empty_cache(); }

  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& dst, double value) override;
  void arange(const Tensor& dst, double start, double step) override;
  void unary(backend::UnaryOp op, const Tensor& x, const Tensor& out, double p0,
             double p1) override;
  void binary(backend::BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(backend::ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
              const Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& bm, const Tensor& out) override;
  void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& out,
                      backend::ConvGeometry g) override;
  bool conv2d_forward_with_bias(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                const Tensor& out, backend::ConvGeometry g) override;
  void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x,
                             backend::ConvGeometry g) override;
  void conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Tensor& grad_w,
                              backend::ConvGeometry g) override;
  void index_select(const Tensor& x, const Tensor& index, const Tensor& out, int64_t outer,
                    int64_t n, int64_t inner) override;
  void index_add(const Tensor& src, const Tensor& index, const Tensor& out, int64_t outer,
                 int64_t n, int64_t inner) override;
  void random(backend::RandomKind kind, const Tensor& out, uint64_t seed, uint64_t counter,
              double p0, double p1) override;
  bool group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups,
                          double eps, bool silu, const Tensor& out, const Tensor& mean,
                          const Tensor& rstd) override;
  bool group_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight,
                           const Tensor& bias, const Tensor& mean, const Tensor& rstd,
                           int64_t groups, bool silu, const Tensor& grad_x,
                           const Tensor& grad_weight, const Tensor& grad_bias) override;
  bool adam_update(const std::vector<backend::AdamTensors>& parameters,
                   const backend::AdamConstants& constants) override;

 private:
  // bias: contiguous [O] or undefined
  void conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out,
              backend::ConvGeometry g);

  CachingAllocator allocator_{HostMemory{}};
};

// Calls f(T{}) with T the C++ type of `dtype`.
template <class F>
decltype(auto) dispatch_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    case DType::i64:
      return f(int64_t{});
  }
  ONESTEP_FAIL("unknown dtype {}", static_cast<int>(dtype));
}

template <class F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    default:
      ONESTEP_FAIL("{}: expected a floating-point tensor (f32 or f64), got {}", op,
                   dtype_name(dtype));
  }
}

template <class T>
T* typed(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

}  // namespace onestep::cpu_backend
