// The ranks of an mpirun launch as a process group (a build with ONESTEP_MPI): MPI between
// processes and hosts, NCCL between GPUs where the build has ONESTEP_NCCL.

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "onestep/engine.h"
#include "onestep/run/process_group.h"

#ifdef ONESTEP_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace onestep::run {

namespace {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  ONESTEP_FAIL("data parallel: {} failed: {}", call, std::string(text, length));
}

// Ends this rank when one wait for the others lasts longer than the timeout: a rank that died
// without its launcher noticing, or one that hangs, must not keep the others waiting forever.
// Exiting (not MPI_Abort from a second thread) needs no thread support from MPI; the launcher
// then ends the rest of the job.
class Watchdog {
 public:
  Watchdog(double timeout_seconds, int rank, int size)
      : timeout_(timeout_seconds), rank_(rank), size_(size) {
    if (timeout_ > 0) thread_ = std::thread([this] { watch(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Marks one wait for the other ranks while it lives.
  class Wait {
   public:
    Wait(Watchdog& dog, const char* what) : dog_(dog) {
      dog_.what_.store(what);
      dog_.since_.store(now_ns());
    }
    ~Wait() { dog_.since_.store(0); }

   private:
    Watchdog& dog_;
  };

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void watch() {
    const auto tick = std::chrono::duration<double>(std::min(1.0, timeout_ / 10));
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, tick, [this] { return done_; })) {
      const int64_t since = since_.load();
      if (since == 0 || (now_ns() - since) * 1e-9 < timeout_) continue;
      std::fprintf(
          stderr,
          "onestep: error: rank %d of %d waited more than %g s for the other ranks (%s): "
          "a rank has died or hangs; ending this rank (ONESTEP_DIST_TIMEOUT sets the limit)\n",
          rank_, size_, timeout_, what_.load());
      std::fflush(stderr);
      std::_Exit(1);
    }
  }

  double timeout_;
  int rank_, size_;
  std::atomic<int64_t> since_{0};
  std::atomic<const char*> what_{""};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

class MpiGroup final : public ProcessGroup {
 public:
  explicit MpiGroup(double timeout_seconds) {
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    MPI_Comm host;
    check_mpi(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &host),
        "MPI_Comm_split_type");
    check_mpi(MPI_Comm_rank(host, &local_rank_), "MPI_Comm_rank");
    MPI_Comm_free(&host);
    watchdog_ = std::make_unique<Watchdog>(timeout_seconds, rank_, size_);
  }
  ~MpiGroup() override {
#ifdef ONESTEP_NCCL
    if (nccl_ != nullptr) ncclCommDestroy(nccl_);
#endif
  }

  int rank() const override {
    return rank_;
  }
  int size() const override {
    return size_;
  }
  int local_rank() const override {
    return local_rank_;
  }
  std::string transport() const override {
#ifdef ONESTEP_NCCL
    return "mpi+nccl";
#else
    return "mpi";
#endif
  }

  void all_reduce_sum(std::vector<double>& values) override {
    reduce(values, MPI_SUM);
  }
  void all_reduce_max(std::vector<double>& values) override {
    reduce(values, MPI_MAX);
  }

  void all_reduce_mean(const std::vector<Tensor>& tensors) override {
    for (const Tensor& t : tensors) {
      ONESTEP_CHECK(is_floating(t.dtype()) && t.is_contiguous(),
                    "data parallel: all_reduce_mean needs contiguous f32 or f64 tensors");
      if (t.numel() == 0) continue;
      if (t.device().is_cpu()) {
        reduce_host(t);
        continue;
      }
#ifdef ONESTEP_NCCL
      reduce_nccl(t);
#else
      // CUDA without NCCL: through host memory.
      const Tensor host = t.to(Device::cpu()).contiguous();
      reduce_host(host);
      NoGradGuard no_grad;
      t.copy_(host);
#endif
    }
  }

  void broadcast(std::string& bytes, int root) override {
    Watchdog::Wait wait(*watchdog_, "broadcast");
    uint64_t length = bytes.size();
    check_mpi(MPI_Bcast(&length, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
    bytes.resize(length);
    check_mpi(MPI_Bcast(bytes.data(), static_cast<int>(length), MPI_CHAR, root, MPI_COMM_WORLD),
              "MPI_Bcast");
  }

 private:
  void reduce(std::vector<double>& values, MPI_Op op) {
    Watchdog::Wait wait(*watchdog_, "all-reduce of host values");
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                            MPI_DOUBLE, op, MPI_COMM_WORLD),
              "MPI_Allreduce");
  }

  // Sums in place, then divides by the rank count (every rank computes the same quotient).
  void reduce_host(const Tensor& t) {
    const MPI_Datatype type = t.dtype() == DType::f32 ? MPI_FLOAT : MPI_DOUBLE;
    const int64_t n = t.numel();
    char* data = static_cast<char*>(t.raw_data());
    const size_t element = dtype_size(t.dtype());
    {
      Watchdog::Wait wait(*watchdog_, "all-reduce of gradients");
      // MPI counts are ints: chunks below 2^30 elements.
      for (int64_t begin = 0; begin < n; begin += int64_t{1} << 30) {
        const int count = static_cast<int>(std::min<int64_t>(n - begin, int64_t{1} << 30));
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + begin * element, count, type, MPI_SUM,
                                MPI_COMM_WORLD),
                  "MPI_Allreduce");
      }
    }
    NoGradGuard no_grad;
    t.mul_(1.0 / size_);
  }

#ifdef ONESTEP_NCCL
  static void check_nccl(ncclResult_t result, const char* call) {
    ONESTEP_CHECK(result == ncclSuccess, "data parallel: {} failed: {}", call,
                  ncclGetErrorString(result));
  }

  // On the device's own stream, behind the backward pass that produced the gradients and ahead
  // of the optimizer step that reads them; ncclAvg divides by the rank count.
  void reduce_nccl(const Tensor& t) {
    const Device device = t.device();
    ONESTEP_CHECK(cudaSetDevice(device.index) == cudaSuccess,
                  "data parallel: cudaSetDevice({}) failed", device.index);
    if (nccl_ == nullptr) {
      ncclUniqueId id;
      if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
      std::string bytes(reinterpret_cast<const char*>(&id), sizeof(id));
      broadcast(bytes, 0);
      std::memcpy(&id, bytes.data(), sizeof(id));
      Watchdog::Wait wait(*watchdog_, "ncclCommInitRank");
      check_nccl(ncclCommInitRank(&nccl_, size_, id, rank_), "ncclCommInitRank");
      nccl_device_ = device;
    }
    ONESTEP_CHECK(device == nccl_device_,
                  "data parallel: gradients on {} after {}: one GPU per rank", device.str(),
                  nccl_device_.str());
    auto stream = static_cast<cudaStream_t>(cuda::stream_handle(device));
    check_nccl(
        ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                      t.dtype() == DType::f32 ? ncclFloat32 : ncclFloat64, ncclAvg, nccl_, stream),
        "ncclAllReduce");
    // Waited for here, under the watchdog: a dead peer would otherwise hang the next host read.
    Watchdog::Wait wait(*watchdog_, "NCCL all-reduce of gradients");
    ONESTEP_CHECK(cudaStreamSynchronize(stream) == cudaSuccess,
                  "data parallel: the NCCL all-reduce failed on {}", device.str());
  }

  ncclComm_t nccl_ = nullptr;
  Device nccl_device_;
#endif

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  std::unique_ptr<Watchdog> watchdog_;
};

// Set by a launcher: Open MPI, MPICH/Hydra, and PMIx-based ones (Slurm's srun --mpi=pmix).
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

}  // namespace

DataParallelSession::DataParallelSession(int* argc, char*** argv, double timeout_seconds) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  started_ = true;
  // Errors come back as codes (then onestep::Error) instead of aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  scope_ = std::make_unique<ScopedProcessGroup>(std::make_shared<MpiGroup>(timeout_seconds));
}

DataParallelSession::~DataParallelSession() {
  scope_.reset();
  if (started_) MPI_Finalize();
}

void DataParallelSession::abort_all(int code) {
  if (started_ && process_group().size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

bool mpi_compiled() {
  return true;
}

bool nccl_compiled() {
#ifdef ONESTEP_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace onestep::run
