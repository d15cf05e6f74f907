// A data-parallel rank's shard of a training stream (shard_data).

#include "onestep/diffusion/datasets.h"
#include "onestep/engine.h"
#include "onestep/run/process_group.h"

namespace onestep::diffusion {

namespace {

class ShardedSource final : public DataSource {
 public:
  ShardedSource(std::unique_ptr<DataSource> source, int64_t index, int64_t count)
      : source_(std::move(source)), index_(index), count_(count) {}

  const DatasetInfo& info() const override { return source_->info(); }

  Batch next_batch(int64_t batch_size) override {
    const Batch global = source_->next_batch(batch_size * count_);
    const int64_t begin = index_ * batch_size, end = begin + batch_size;
    Batch shard;
    shard.x = global.x.slice(0, begin, end).contiguous();
    if (global.labels.defined()) shard.labels = global.labels.slice(0, begin, end).contiguous();
    return shard;
  }

  std::vector<int64_t> state() const override { return source_->state(); }
  void restore(const std::vector<int64_t>& state) override { source_->restore(state); }
  Batch reference_sample(int64_t n, Rng& gen) const override {
    return source_->reference_sample(n, gen);
  }

 private:
  std::unique_ptr<DataSource> source_;
  int64_t index_, count_;
};

}  // namespace

std::unique_ptr<DataSource> shard_data(std::unique_ptr<DataSource> source, int64_t index,
                                       int64_t count) {
  ONESTEP_CHECK(source != nullptr, "shard_data: no data source");
  ONESTEP_CHECK(count >= 1 && index >= 0 && index < count,
                "shard_data: shard {} of {} does not exist", index, count);
  if (count == 1) return source;
  return std::make_unique<ShardedSource>(std::move(source), index, count);
}

std::unique_ptr<DataSource> shard_for_this_rank(std::unique_ptr<DataSource> source) {
  if (!source) return source;
  const run::ProcessGroup& group = run::process_group();
  return shard_data(std::move(source), group.rank(), group.size());
}

}  // namespace onestep::diffusion
