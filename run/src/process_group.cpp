// The current process group, the single-process group, and what runs do with a group.

#include "onestep/run/process_group.h"

#include <mutex>

#include "onestep/engine.h"

namespace onestep::run {

namespace {

class SingleProcess final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string transport() const override { return "single"; }
  void all_reduce_sum(std::vector<double>&) override {}
  void all_reduce_max(std::vector<double>&) override {}
  void all_reduce_mean(const std::vector<Tensor>&) override {}
  void broadcast(std::string&, int) override {}
};

std::mutex current_mutex;
std::shared_ptr<ProcessGroup>& current() {
  static std::shared_ptr<ProcessGroup> group = single_process_group();
  return group;
}

// 64-bit FNV-1a over a tensor's bytes in logical order.
uint64_t fnv1a(const Tensor& t, uint64_t hash) {
  const Tensor host = t.to(Device::cpu()).contiguous();
  const auto* bytes = static_cast<const unsigned char*>(host.raw_data());
  const size_t n = static_cast<size_t>(host.numel()) * dtype_size(host.dtype());
  for (size_t i = 0; i < n; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  return hash;
}

constexpr int64_t kBucketBytes = int64_t{32} << 20;

}  // namespace

std::shared_ptr<ProcessGroup> single_process_group() {
  return std::make_shared<SingleProcess>();
}

ProcessGroup& process_group() {
  std::lock_guard<std::mutex> lock(current_mutex);
  return *current();
}

ScopedProcessGroup::ScopedProcessGroup(std::shared_ptr<ProcessGroup> group) {
  ONESTEP_CHECK(group != nullptr, "ScopedProcessGroup: no group");
  std::lock_guard<std::mutex> lock(current_mutex);
  previous_ = std::exchange(current(), std::move(group));
}

ScopedProcessGroup::~ScopedProcessGroup() {
  std::lock_guard<std::mutex> lock(current_mutex);
  current() = std::move(previous_);
}

double max_over_ranks(double value) {
  ProcessGroup& group = process_group();
  if (group.size() == 1) return value;
  std::vector<double> values = {value};
  group.all_reduce_max(values);
  return values[0];
}

double mean_over_ranks(double value) {
  ProcessGroup& group = process_group();
  if (group.size() == 1) return value;
  std::vector<double> values = {value};
  group.all_reduce_sum(values);
  return values[0] / group.size();
}

bool on_any_rank(bool flag) {
  return max_over_ranks(flag ? 1.0 : 0.0) > 0;
}

void barrier() {
  on_any_rank(false);
}

int64_t local_batch(int64_t global_batch, const char* who) {
  const int ranks = process_group().size();
  ONESTEP_CHECK(global_batch % ranks == 0,
                "{}: batch {} is the global batch and must divide evenly among the {} ranks", who,
                global_batch, ranks);
  return global_batch / ranks;
}

void shard_by_rank(Rng& gen) {
  const ProcessGroup& group = process_group();
  gen.set_shard(group.rank(), group.size());
}

Tensor global_batch_mean(const Tensor& x) {
  NoGradGuard no_grad;
  const Tensor local = mean(x.detach());
  if (process_group().size() == 1) return local;
  return full({}, mean_over_ranks(local.item()), x.dtype(), x.device());
}

void average_gradients(const std::vector<Tensor>& params) {
  ProcessGroup& group = process_group();
  if (group.size() == 1 || params.empty()) return;
  // Buckets of consecutive gradients of one dtype and device, flattened into one buffer each:
  // one collective per bucket instead of one per tensor.
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  {
    NoGradGuard no_grad;
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (!g.defined()) {
        g = zeros(p.shape(), p.dtype(), p.device());
        p.set_grad(g);
      }
      grads.push_back(g);
    }
    size_t begin = 0;
    while (begin < grads.size()) {
      size_t end = begin;
      int64_t bytes = 0;
      while (end < grads.size() && grads[end].dtype() == grads[begin].dtype() &&
             grads[end].device() == grads[begin].device()) {
        const int64_t more =
            grads[end].numel() * static_cast<int64_t>(dtype_size(grads[end].dtype()));
        if (end > begin && bytes + more > kBucketBytes) break;
        bytes += more;
        ++end;
      }
      std::vector<Tensor> flat;
      for (size_t i = begin; i < end; ++i) flat.push_back(grads[i].contiguous().reshape({-1}));
      const Tensor bucket = end - begin == 1 ? flat[0].clone() : concat(flat, 0);
      group.all_reduce_mean({bucket});
      int64_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        const int64_t n = grads[i].numel();
        params[i].set_grad(bucket.slice(0, offset, offset + n).reshape(grads[i].shape()));
        offset += n;
      }
      begin = end;
    }
  }
}

void check_replicas_agree(const std::vector<Tensor>& tensors, const std::string& what) {
  ProcessGroup& group = process_group();
  if (group.size() == 1) return;
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const Tensor& t : tensors) hash = fnv1a(t, hash);
  // Two 32-bit halves: exact in a double. Equal on every rank iff max(h) == -max(-h).
  std::vector<double> values = {double(hash >> 32), double(hash & 0xffffffffu), -double(hash >> 32),
                                -double(hash & 0xffffffffu)};
  group.all_reduce_max(values);
  ONESTEP_CHECK(values[0] == -values[2] && values[1] == -values[3],
                "data parallel: the ranks do not hold the same {} (rank {} of {}); every rank must "
                "read the same files (a shared run directory, or identical copies on every host)",
                what, group.rank(), group.size());
}

Device rank_device(Device device) {
  const ProcessGroup& group = process_group();
  if (group.size() == 1 || !device.is_cuda()) return usable_device(device);
  ONESTEP_CHECK(device.index == 0,
                "data parallel: --device {} names one GPU for {} ranks; give 'cuda' and each rank "
                "takes the GPU of its local rank",
                device.str(), group.size());
  const Device mine = usable_device(Device::cuda(group.local_rank()));
  try {
    memory_stats(mine);  // reaches the device: an error now if this host has too few
  } catch (const Error& e) {
    ONESTEP_FAIL(
        "data parallel: rank {} is local rank {} on its host and takes {}, but: {}; start "
        "at most as many ranks per host as it has GPUs",
        group.rank(), group.local_rank(), mine.str(), e.what());
  }
  return mine;
}

}  // namespace onestep::run
