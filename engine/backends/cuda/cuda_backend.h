#pragma once
// The CUDA backend: one instance per device, each with its own caching allocator, one stream and
// one cuBLAS handle. Every kernel and copy of a device is queued on that one stream, so work runs
// in the order the ops were called and a freed block can be handed out again at once: a later
// kernel that reuses it is queued behind every kernel that used it before. Host transfers
// synchronise the stream.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "../../src/backend.h"
#include "../../src/caching_pool.h"
#include "cuda_check.h"

namespace onestep::cuda_backend {

// The source of a device's caching pool: cudaMalloc'd memory used on `stream`.
struct DeviceMemory {
  static constexpr const char* kName = "cuda allocator";
  static constexpr const char* kSystemCall = "cudaMalloc";
  cudaStream_t stream;
  // Fill every block handed out with 0xFF bytes (NaN in f32/f64, -1 in i64) so that a kernel
  // that leaves an output element unwritten is caught by tests; ONESTEP_CUDA_POISON=1.
  bool poison;
  void* allocate(size_t bytes);
  void free(void* ptr);
  void before_release();
  void handed_out(void* ptr, size_t bytes);
};

using CachingAllocator = detail::CachingPool<DeviceMemory>;

class CudaBackend final : public backend::Backend {
 public:
  explicit CudaBackend(int device);
  // Never destroyed (see backend::cuda()): tensors with static lifetime may free memory after
  // the CUDA runtime has shut down.

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  MemoryStats memory_stats() override;
  void reset_peak_memory() override;
  void empty_cache() override;

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

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  bool tf32() const { return tf32_; }
  int sm_count() const { return sm_count_; }
  // Makes this backend's device current for the calling thread (kernels launch on the current
  // device); every method calls it first.
  void activate() const;

  // Scratch memory from the caching allocator, returned on scope exit.
  class Scratch {
   public:
    Scratch(CudaBackend& backend, size_t bytes);
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <class T>
    T* get() const {
      return static_cast<T*>(ptr_);
    }

   private:
    CudaBackend& backend_;
    size_t bytes_;
    void* ptr_;
  };

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  bool tf32_ = false;
  int sm_count_ = 1;
  std::unique_ptr<CachingAllocator> allocator_;
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

}  // namespace onestep::cuda_backend
