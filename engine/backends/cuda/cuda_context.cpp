// Device discovery, the per-device backend instances, streams and cuBLAS handles.

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "cuda_backend.h"
#include "onestep/engine/cuda.h"

namespace onestep {

namespace {

struct Discovery {
  int devices = 0;
  std::string reason;  // why no device can be used, when devices == 0
};

// Asked once: the answer does not change while the process runs, and a failed query must not be
// repeated on every tensor allocation.
const Discovery& discovery() {
  static const Discovery result = [] {
    Discovery d;
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      // No driver, a driver older than the runtime, no device...: all mean "not available".
      // cudaGetLastError clears the error so that it does not resurface in a later call.
      cudaGetLastError();
      d.reason = fmt::format("{}: {}", cudaGetErrorName(status), cudaGetErrorString(status));
      return d;
    }
    d.devices = count;
    if (count == 0) d.reason = "the CUDA runtime reports no device";
    return d;
  }();
  return result;
}

bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::strcmp(value, "") != 0 && std::strcmp(value, "0") != 0;
}

}  // namespace

namespace cuda {
bool available() {
  try {
    return discovery().devices > 0;
  } catch (...) {
    return false;  // available() is a question, never a failure
  }
}
std::string unavailable_reason() {
  try {
    return discovery().reason;
  } catch (const std::exception& e) {
    return e.what();
  }
}
bool compiled() {
  return true;
}
bool emulated() {
#ifdef ONESTEP_CUDA_EMULATION
  return true;
#else
  return false;
#endif
}
}  // namespace cuda

void* cuda::stream_handle(Device device) {
  ONESTEP_CHECK(device.is_cuda(), "cuda::stream_handle: {} is not a CUDA device", device.str());
  return static_cast<cuda_backend::CudaBackend&>(backend::cuda(device.index)).stream();
}

namespace backend {
Backend& cuda(int index) {
  const Discovery& d = discovery();
  ONESTEP_CHECK(d.devices > 0,
                "device cuda:{} requested, but CUDA is not available on this machine ({})", index,
                d.reason);
  ONESTEP_CHECK(index >= 0 && index < d.devices,
                "device cuda:{} requested, but this machine has {} CUDA device(s)", index,
                d.devices);
  // Never destroyed, like the CPU backend: tensors with static lifetime may release memory
  // after main returns, when destroying the backend first would be a use after free.
  // The list is never destroyed either: were it, the backends would be unreachable at exit and
  // LeakSanitizer would report them.
  static std::mutex mutex;
  static auto* instances = new std::vector<cuda_backend::CudaBackend*>();
  std::lock_guard<std::mutex> lock(mutex);
  if (instances->empty()) instances->assign(d.devices, nullptr);
  if ((*instances)[index] == nullptr) (*instances)[index] = new cuda_backend::CudaBackend(index);
  return *(*instances)[index];
}
}  // namespace backend

namespace cuda_backend {

CudaBackend::CudaBackend(int device) : device_(device) {
  ONESTEP_CUDA_CHECK(cudaSetDevice(device_));
  // A stream of our own rather than the legacy default stream, which would serialise with any
  // other library in the process; every call below passes it explicitly.
  ONESTEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  ONESTEP_CUBLAS_CHECK(cublasCreate(&blas_));
  ONESTEP_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  ONESTEP_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device_));
  // TF32 rounds GEMM inputs to 10 mantissa bits: fast on tensor cores, but ~1e-3 relative error,
  // so it is opt-in and f32 matmuls are full precision by default.
  tf32_ = env_flag("ONESTEP_TF32");
  allocator_ = std::make_unique<CachingAllocator>(
      DeviceMemory{stream_, env_flag("ONESTEP_CUDA_POISON")});
}

void CudaBackend::activate() const {
  int current = -1;
  ONESTEP_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device_) ONESTEP_CUDA_CHECK(cudaSetDevice(device_));
}

void* CudaBackend::allocate(size_t bytes) {
  activate();
  return allocator_->allocate(bytes);
}

void CudaBackend::deallocate(void* ptr, size_t bytes) {
  // No CUDA call: this runs from tensor destructors, which must not throw.
  allocator_->deallocate(ptr, bytes);
}

MemoryStats CudaBackend::memory_stats() {
  return allocator_->stats();
}

void CudaBackend::reset_peak_memory() {
  allocator_->reset_peak();
}

void CudaBackend::empty_cache() {
  activate();
  allocator_->empty_cache();
}

CudaBackend::Scratch::Scratch(CudaBackend& backend, size_t bytes)
    : backend_(backend), bytes_(std::max<size_t>(bytes, 1)), ptr_(backend.allocate(bytes_)) {}

CudaBackend::Scratch::~Scratch() {
  backend_.deallocate(ptr_, bytes_);
}

}  // namespace cuda_backend

}  // namespace onestep
