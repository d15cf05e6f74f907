#pragma once
// Data parallelism: the processes (ranks) of one training run, and what they exchange.
//
// Every rank runs the same program on its shard of each global batch: its rows of the data
// stream and of every random draw (Rng::set_shard), so N ranks together draw exactly what one
// process drawing the whole batch draws, and every rank's state (weights, optimizer, EMA,
// random and data positions) stays the same as every other's. Gradients are averaged over the
// ranks before each optimizer step; rank 0 alone writes files. The group a run uses is the
// process's current one (process_group()): a single process unless the command was launched by
// mpirun in a build with ONESTEP_MPI (DataParallelSession).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onestep/engine/device.h"
#include "onestep/engine/random.h"
#include "onestep/engine/tensor.h"

namespace onestep::run {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This rank's index among the ranks on its host: its GPU with --device cuda.
  virtual int local_rank() const = 0;
  // "single", "mpi" or "mpi+nccl": what moves the data.
  virtual std::string transport() const = 0;

  // Element-wise sum (max) over the ranks, in place; every rank receives the same values.
  // For small host data: losses, flags, checksums.
  virtual void all_reduce_sum(std::vector<double>& values) = 0;
  virtual void all_reduce_max(std::vector<double>& values) = 0;
  // The average over the ranks of each float tensor (f32 or f64, contiguous), in place, all on
  // one device: gradients. On the CPU by MPI; on CUDA by NCCL on the device's stream where the
  // build has it, else staged through host memory.
  virtual void all_reduce_mean(const std::vector<Tensor>& tensors) = 0;
  // `bytes` of rank `root` on every rank.
  virtual void broadcast(std::string& bytes, int root) = 0;
};

// The process's current group (a single process unless set).
ProcessGroup& process_group();
// Makes `group` the current one for this object's lifetime (the previous one after).
class ScopedProcessGroup {
 public:
  explicit ScopedProcessGroup(std::shared_ptr<ProcessGroup> group);
  ~ScopedProcessGroup();
  ScopedProcessGroup(const ScopedProcessGroup&) = delete;
  ScopedProcessGroup& operator=(const ScopedProcessGroup&) = delete;

 private:
  std::shared_ptr<ProcessGroup> previous_;
};
// The group of one process alone.
std::shared_ptr<ProcessGroup> single_process_group();

// Whether this rank writes the run's files (checkpoints, metrics, previews, logs): rank 0.
inline bool writes_files() {
  return process_group().rank() == 0;
}
// True on every rank when `flag` is true on any (a stop signal, a failed step).
bool on_any_rank(bool flag);
// The largest `value` of any rank, on every rank.
double max_over_ranks(double value);
// The mean of the ranks' `value`s, on every rank (NaN when any rank's is NaN).
double mean_over_ranks(double value);
// Waits until every rank has arrived.
void barrier();

// The rows of a global batch of `global_batch` this rank draws; an error naming `who` when the
// ranks cannot share it equally.
int64_t local_batch(int64_t global_batch, const char* who);
// Shards `gen` by rank (Rng::set_shard) in a group of several ranks.
void shard_by_rank(Rng& gen);

// The mean of `x` over the whole global batch, when each rank holds its rows: for the batch
// statistics that normalise a loss (detached; equal local batches). The mean of x alone in a
// single process.
Tensor global_batch_mean(const Tensor& x);

// Averages the gradients of `params` over the ranks, in buckets of about 32 MiB, before an
// optimizer step; parameters without a gradient count as zero (and then get one). Nothing in a
// single process.
void average_gradients(const std::vector<Tensor>& params);

// Checks that every rank holds the same `tensors` (bit for bit, by checksum): an error naming
// `what` otherwise, such as a run directory that differs between hosts.
void check_replicas_agree(const std::vector<Tensor>& tensors, const std::string& what);

// `device` for this rank: with several ranks, "cuda" means the GPU of this rank's local rank.
Device rank_device(Device device);

// Starts data parallelism when the process was launched by mpirun (or another MPI launcher) in a
// build with ONESTEP_MPI, making the ranks the current process group; nothing otherwise. Ends it
// (MPI_Finalize) when destroyed. `timeout_seconds` bounds every wait for the other ranks: a rank
// that waits longer (a peer died or hangs) prints why and exits with status 1, which makes the
// launcher end the others (0: no limit).
class DataParallelSession {
 public:
  DataParallelSession(int* argc, char*** argv, double timeout_seconds);
  ~DataParallelSession();
  DataParallelSession(const DataParallelSession&) = delete;
  DataParallelSession& operator=(const DataParallelSession&) = delete;
  // Ends every rank of the job at once with `code` after an error on this rank (MPI_Abort), so
  // that no rank waits forever for one that has stopped; returns without MPI.
  void abort_all(int code);

 private:
  std::unique_ptr<ScopedProcessGroup> scope_;
  bool started_ = false;
};

// Whether this build can run data parallel (ONESTEP_MPI), and with NCCL (ONESTEP_NCCL).
bool mpi_compiled();
bool nccl_compiled();

}  // namespace onestep::run
