// The CUDA emulator itself: barriers that hold every thread of a block, the faults it must
// report (a missing __syncthreads, shared memory out of bounds, a barrier in divergent code),
// the runtime's error semantics, and cuBLAS GEMM's results and argument checks. Each detector
// is shown to fire on a deliberately broken kernel and to stay silent on its correct twin.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"

namespace {

// Device memory holding `values`, read back by to_host.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(const std::vector<T>& values) : size_(values.size()) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&data_), bytes()), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(data_, values.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit DeviceBuffer(size_t size, T fill = T(0)) : DeviceBuffer(std::vector<T>(size, fill)) {}
  ~DeviceBuffer() { cudaFree(data_); }
  T* get() const { return data_; }
  size_t bytes() const { return size_ * sizeof(T); }
  std::vector<T> to_host() const {
    std::vector<T> out(size_);
    EXPECT_EQ(cudaMemcpy(out.data(), data_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }

 private:
  size_t size_;
  T* data_ = nullptr;
};

template <class F>
std::string fault_of(F&& f) {
  try {
    f();
  } catch (const cuda_emulator::Fault& fault) {
    return fault.what();
  }
  return "";
}

// --- kernels

// Counts how often each (block, thread) pair runs, over a 3-D grid of 3-D blocks.
__global__ void count_kernel(unsigned long long* counts) {
  const unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const unsigned thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  atomicAdd(counts + block * (blockDim.x * blockDim.y * blockDim.z) + thread, 1ull);
}

// out[t] = the value thread t+1 stored: right only if every thread stored before any read.
__global__ void rotate_kernel(const float* in, float* out, bool with_barrier) {
  const auto shared = cuda_emulator::dynamic_shared_memory<float>();
  const unsigned t = threadIdx.x, n = blockDim.x;
  shared[t] = in[blockIdx.x * n + t];
  if (with_barrier) __syncthreads();
  out[blockIdx.x * n + t] = shared[(t + 1) % n];
}

// A tree reduction; skipping the barrier after each level is the classic missing __syncthreads.
__global__ void block_sum_kernel(const double* in, double* out, bool barrier_per_level) {
  const auto shared = cuda_emulator::dynamic_shared_memory<double>();
  shared[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  for (unsigned width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) shared[threadIdx.x] = shared[threadIdx.x] + shared[threadIdx.x + width];
    if (barrier_per_level) __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = shared[0];
}

__global__ void overrun_kernel(int extra) {
  const auto shared = cuda_emulator::dynamic_shared_memory<int>();
  shared[static_cast<int>(threadIdx.x) + extra] = 1;
}

__global__ void divergent_barrier_kernel() {
  const auto shared = cuda_emulator::dynamic_shared_memory<int>();
  shared[threadIdx.x] = 0;
  if (threadIdx.x < 16) __syncthreads();
}

__global__ void barrier_kernel() {
  __syncthreads();
}

// --- launches

TEST(CudaEmulator, EveryThreadOfEveryBlockRunsOnceWithItsOwnIndices) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  DeviceBuffer<unsigned long long> counts(12 * 24);
  ASSERT_TRUE(cuda_emulator::launch("count_kernel", count_kernel, grid, block, 0, nullptr,
                                    counts.get()));
  for (unsigned long long c : counts.to_host()) EXPECT_EQ(c, 1u);
}

TEST(CudaEmulator, SyncthreadsHoldsEveryThreadUntilTheWholeBlockArrives) {
  std::vector<float> in(2 * 64);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  DeviceBuffer<float> x(in), y(in.size());
  ASSERT_TRUE(cuda_emulator::launch("rotate_kernel", rotate_kernel, dim3(2), dim3(64),
                                    64 * sizeof(float), nullptr, x.get(), y.get(), true));
  const std::vector<float> out = y.to_host();
  for (unsigned b = 0; b < 2; ++b)
    for (unsigned t = 0; t < 64; ++t) EXPECT_EQ(out[b * 64 + t], in[b * 64 + (t + 1) % 64]);
}

TEST(CudaEmulator, AMissingSyncthreadsIsReportedAsADataRace) {
  DeviceBuffer<float> x(64, 1.0f), y(64);
  const std::string fault = fault_of([&] {
    cuda_emulator::launch("rotate_kernel", rotate_kernel, dim3(1), dim3(64), 64 * sizeof(float),
                          nullptr, x.get(), y.get(), false);
  });
  EXPECT_NE(fault.find("kernel rotate_kernel, block (0,0,0), thread (1,0,0)"), std::string::npos)
      << fault;
  EXPECT_NE(fault.find("after thread (0,0,0) read it with no __syncthreads between"),
            std::string::npos)
      << fault;
}

TEST(CudaEmulator, ATreeReductionIsRightWithItsBarriersAndARaceWithoutThem) {
  std::vector<double> in(3 * 128);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<double>(i % 97);
  DeviceBuffer<double> x(in), sums(3);
  ASSERT_TRUE(cuda_emulator::launch("block_sum_kernel", block_sum_kernel, dim3(3), dim3(128),
                                    128 * sizeof(double), nullptr, x.get(), sums.get(), true));
  const std::vector<double> out = sums.to_host();
  for (int b = 0; b < 3; ++b) {
    double expected = 0;
    for (int t = 0; t < 128; ++t) expected += in[b * 128 + t];
    EXPECT_EQ(out[b], expected);
  }
  const std::string fault = fault_of([&] {
    cuda_emulator::launch("block_sum_kernel", block_sum_kernel, dim3(3), dim3(128),
                          128 * sizeof(double), nullptr, x.get(), sums.get(), false);
  });
  EXPECT_NE(fault.find("data race"), std::string::npos) << fault;
}

TEST(CudaEmulator, SharedMemoryOutOfBoundsIsReported) {
  EXPECT_EQ(fault_of([] {
              cuda_emulator::launch("overrun_kernel", overrun_kernel, dim3(1), dim3(32),
                                    32 * sizeof(int), nullptr, 0);
            }),
            "");
  const std::string past_end = fault_of([] {
    cuda_emulator::launch("overrun_kernel", overrun_kernel, dim3(1), dim3(32), 32 * sizeof(int),
                          nullptr, 1);
  });
  EXPECT_NE(past_end.find("thread (31,0,0): shared memory write of 4 bytes at byte 128 is "
                          "outside the 128 bytes the launch gave"),
            std::string::npos)
      << past_end;
  const std::string before_start = fault_of([] {
    cuda_emulator::launch("overrun_kernel", overrun_kernel, dim3(1), dim3(32), 32 * sizeof(int),
                          nullptr, -1);
  });
  EXPECT_NE(before_start.find("at byte -4 is outside"), std::string::npos) << before_start;
}

TEST(CudaEmulator, ABarrierInDivergentCodeIsReported) {
  const std::string fault = fault_of([] {
    cuda_emulator::launch("divergent_barrier_kernel", divergent_barrier_kernel, dim3(1), dim3(32),
                          32 * sizeof(int), nullptr);
  });
  EXPECT_NE(fault.find("thread (16,0,0): returned while 16 of 32 threads of its block wait at "
                       "__syncthreads"),
            std::string::npos)
      << fault;
}

TEST(CudaEmulator, ABarrierInALaunchWithoutSharedMemoryIsRefused) {
  const std::string fault = fault_of(
      [] { cuda_emulator::launch("barrier_kernel", barrier_kernel, dim3(1), dim3(8), 0, nullptr); });
  EXPECT_NE(fault.find("__syncthreads in a launch without dynamic shared memory"),
            std::string::npos)
      << fault;
  EXPECT_TRUE(cuda_emulator::launch("barrier_kernel", barrier_kernel, dim3(2), dim3(8), 4, nullptr));
}

TEST(CudaEmulator, ABadConfigurationIsTheLastErrorAndRunsNothing) {
  DeviceBuffer<unsigned long long> counts(4);
  const auto launch = [&](dim3 grid, dim3 block, size_t shared) {
    return cuda_emulator::launch("count_kernel", count_kernel, grid, block, shared, nullptr,
                                 counts.get());
  };
  EXPECT_FALSE(launch(dim3(1), dim3(2048), 0));
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // read once, then cleared
  EXPECT_FALSE(launch(dim3(0), dim3(1), 0));
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_FALSE(launch(dim3(1, 70000), dim3(1), 0));
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_FALSE(launch(dim3(1), dim3(1), 64 << 10));
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  for (unsigned long long c : counts.to_host()) EXPECT_EQ(c, 0u);
}

// --- runtime

TEST(CudaEmulatorRuntime, AFailedCallStaysTheLastErrorUntilItIsRead) {
  EXPECT_EQ(cudaSetDevice(100000), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidDevice), "cudaErrorInvalidDevice");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidDevice), "invalid device ordinal");
}

TEST(CudaEmulatorRuntime, CopiesAndFreesAreCheckedAgainstTheAllocations) {
  DeviceBuffer<float> x(16);
  std::vector<float> host(32);
  EXPECT_EQ(cudaMemcpy(host.data(), x.get(), 16 * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), x.get(), 17 * sizeof(float), cudaMemcpyDeviceToHost),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(x.get() + 1, host.data(), 16 * sizeof(float), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemsetAsync(host.data(), 0, 4), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(host.data()), cudaErrorInvalidValue);
  cudaGetLastError();
  void* p = nullptr;
  size_t free_bytes = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&p, total + 1), cudaErrorMemoryAllocation);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
}

TEST(CudaEmulatorRuntime, StreamsAndEventsAreValidated) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  float ms = -1;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaEventRecord(start, stream), cudaSuccess);
  EXPECT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaErrorInvalidResourceHandle);
  DeviceBuffer<unsigned long long> counts(1);
  EXPECT_FALSE(cuda_emulator::launch("count_kernel", count_kernel, dim3(1), dim3(1), 0, stream,
                                     counts.get()));
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidResourceHandle);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

// --- cuBLAS

class CudaEmulatorBlas : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(cublasCreate(&handle_), CUBLAS_STATUS_SUCCESS); }
  void TearDown() override { cublasDestroy(handle_); }
  cublasHandle_t handle_ = nullptr;
};

TEST_F(CudaEmulatorBlas, GemmMatchesTheDefinitionForEveryTransposeAndBatch) {
  // Column-major, two batch entries 16 elements apart; leading dimensions larger than needed.
  const int m = 2, n = 2, k = 3, lda = 4, ldb = 3, ldc = 2, stride = 16;
  std::vector<double> a(2 * stride), b(2 * stride);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.5 * static_cast<double>(i) - 3;
  for (size_t i = 0; i < b.size(); ++i) b[i] = 1.0 + static_cast<double>(i % 5);
  for (cublasOperation_t ta : {CUBLAS_OP_N, CUBLAS_OP_T}) {
    for (cublasOperation_t tb : {CUBLAS_OP_N, CUBLAS_OP_T}) {
      auto at = [&](int e, int i, int p) {
        return ta == CUBLAS_OP_N ? a[e * stride + i + p * lda] : a[e * stride + p + i * lda];
      };
      auto bt = [&](int e, int p, int j) {
        return tb == CUBLAS_OP_N ? b[e * stride + p + j * ldb] : b[e * stride + j + p * ldb];
      };
      DeviceBuffer<double> da(a), db(b), dc(2 * ldc * n, 1.0);
      const double alpha = 2, beta = 0.5;
      ASSERT_EQ(cublasGemmStridedBatchedEx(handle_, ta, tb, m, n, k, &alpha, da.get(), CUDA_R_64F,
                                           lda, stride, db.get(), CUDA_R_64F, ldb, stride,
                                           &beta, dc.get(), CUDA_R_64F, ldc, ldc * n, 2,
                                           CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_SUCCESS);
      const std::vector<double> c = dc.to_host();
      for (int e = 0; e < 2; ++e)
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) {
            double expected = 0;
            for (int p = 0; p < k; ++p) expected += at(e, i, p) * bt(e, p, j);
            EXPECT_DOUBLE_EQ(c[e * ldc * n + i + j * ldc], alpha * expected + beta * 1.0)
                << "ta " << ta << " tb " << tb << " batch " << e << " (" << i << "," << j << ")";
          }
    }
  }
}

TEST_F(CudaEmulatorBlas, BetaZeroNeverReadsC) {
  DeviceBuffer<float> a(std::vector<float>{1, 2}), b(std::vector<float>{3}),
      c(2, std::numeric_limits<float>::quiet_NaN());
  const float one = 1, zero = 0;
  ASSERT_EQ(cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 1, &one, a.get(), 2, b.get(), 1,
                        &zero, c.get(), 2),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.to_host(), (std::vector<float>{3, 6}));
}

TEST_F(CudaEmulatorBlas, ArgumentsAreCheckedAsCublasDoes) {
  DeviceBuffer<float> a(16), b(16), c(16);
  const float one = 1;
  auto sgemm = [&](cublasHandle_t h, cublasOperation_t ta, int m, int n, int k, int lda, int ldb,
                   int ldc) {
    return cublasSgemm(h, ta, CUBLAS_OP_N, m, n, k, &one, a.get(), lda, b.get(), ldb, &one,
                       c.get(), ldc);
  };
  EXPECT_EQ(sgemm(nullptr, CUBLAS_OP_N, 2, 2, 2, 2, 2, 2), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(sgemm(handle_, CUBLAS_OP_N, -1, 2, 2, 2, 2, 2), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(sgemm(handle_, CUBLAS_OP_N, 3, 2, 2, 2, 2, 3), CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  EXPECT_EQ(sgemm(handle_, CUBLAS_OP_T, 3, 2, 2, 2, 2, 3), CUBLAS_STATUS_SUCCESS);  // lda >= k
  EXPECT_EQ(sgemm(handle_, CUBLAS_OP_N, 2, 2, 3, 2, 2, 2), CUBLAS_STATUS_INVALID_VALUE);  // ldb < k
  EXPECT_EQ(sgemm(handle_, CUBLAS_OP_N, 2, 2, 2, 2, 2, 1), CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
  const double one64 = 1;
  EXPECT_EQ(cublasGemmStridedBatchedEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one64, a.get(),
                                       CUDA_R_64F, 2, 0, b.get(), CUDA_R_32F, 2, 0, &one64,
                                       c.get(), CUDA_R_32F, 2, 0, 1, CUBLAS_COMPUTE_64F,
                                       CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_NOT_SUPPORTED);
  // Operands past their allocation: an illegal address on a GPU, a fault here.
  const std::string fault =
      fault_of([&] { sgemm(handle_, CUBLAS_OP_N, 4, 4, 4, 5, 4, 4); });  // A spans 5*3+4 > 16
  EXPECT_NE(fault.find("operand A of batch entry 0 (4 x 4, ld 5) is not inside one device "
                       "allocation"),
            std::string::npos)
      << fault;
}

TEST_F(CudaEmulatorBlas, Tf32RoundsTheInputsToTenMantissaBits) {
  const float x = 1.0f + std::ldexp(1.0f, -12);  // below TF32's resolution at 1
  DeviceBuffer<float> a(std::vector<float>{x}), b(std::vector<float>{1.0f}), c(1);
  const float one = 1, zero = 0;
  auto run = [&](cublasComputeType_t compute) {
    EXPECT_EQ(cublasGemmStridedBatchedEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, a.get(),
                                         CUDA_R_32F, 1, 0, b.get(), CUDA_R_32F, 1, 0, &zero,
                                         c.get(), CUDA_R_32F, 1, 0, 1, compute,
                                         CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    return c.to_host()[0];
  };
  EXPECT_EQ(run(CUBLAS_COMPUTE_32F), x);
  EXPECT_EQ(run(CUBLAS_COMPUTE_32F_FAST_TF32), 1.0f);
}

}  // namespace
