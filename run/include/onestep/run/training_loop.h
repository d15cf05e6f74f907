#pragma once
// The loop the teacher and the distillation runs share: steps until the image budget is spent
// or a stop signal arrives, a metrics.jsonl line and a progress update every log interval, an
// evaluation every evaluation interval, checkpoints, counting of skipped (non-finite) steps with
// a stop after too many in a row that keeps the last good networks, and the final checkpoint
// and preview. A run supplies its step, logging, checkpoint and preview.

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "onestep/engine/device.h"
#include "onestep/engine/tensor.h"
#include "onestep/nn/module.h"
#include "onestep/nn/named_tensors.h"
#include "onestep/run/nonfinite_steps.h"
#include "onestep/run/process_group.h"
#include "onestep/run/run.h"
#include "onestep/run/training_state.h"

namespace onestep::run {

struct TrainingSchedule {
  const char* who = "";  // "teacher" or "distill": the progress label
  std::string out;       // the run directory
  Device device;
  int64_t total_images = 0;
  int64_t log_every_images = 1;
  int64_t checkpoint_every_images = 0;  // 0: only the final checkpoint
  int64_t eval_every_images = 0;        // 0: no evaluations
  int64_t max_consecutive_skips = 1;
  bool preview = false;  // write a preview when the run ends without a stop signal
};

// The schedule of a run's options (TeacherOptions, DistillOptions: the fields they share).
template <class Options>
TrainingSchedule schedule_of(const Options& o, const char* who, Device device) {
  TrainingSchedule s;
  s.who = who;
  s.out = o.out;
  s.device = device;
  s.total_images = o.total_images;
  s.log_every_images = o.log_every_images;
  s.checkpoint_every_images = o.checkpoint_every_images;
  s.max_consecutive_skips = o.max_consecutive_skips;
  s.preview = o.preview_samples > 0;
  return s;
}

class TrainingLoop;

// `options` (TeacherOptions, DistillOptions) after validate() found nothing wrong.
template <class Options>
const Options& validated(const Options& options) {
  options.validate();
  return options;
}

// A run from start to end, as train_teacher() and distill() do it: the options validated, the
// run directory prepared (prepare_run_directory), the run built by `make` (a unique_ptr to a
// TrainingLoop with options() and run()), its config.json written with the settings as built (a
// resume reads them back), then the run run.
//
// Data parallel: rank 0 alone prepares the directory and writes config.json, after every rank
// has checked the directory as it was; a failure there ends every rank with an error.
template <class Options, class Make>
auto start_and_run(const Options& options, bool resume, const char* who, Make&& make) {
  options.validate();
  barrier();
  std::exception_ptr failure;
  if (writes_files()) {
    try {
      prepare_run_directory(options.out, resume, who);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (on_any_rank(failure != nullptr)) {
    if (failure) std::rethrow_exception(failure);
    throw Error(fmt::format("{}: rank 0 could not prepare the run directory {}", who, options.out));
  }
  const auto run = make();
  if (writes_files()) write_run_config(options.out, run->options().to_json());
  return run->run();
}

class TrainingLoop {
 public:
  virtual ~TrainingLoop() = default;

  // One step as run_loop() takes it, for a caller that steps the loop itself (SteppedTraining);
  // its tallies feed a log line nobody writes.
  void step() { train_step(); }
  int64_t images() const { return images_; }

 protected:
  TrainingOutcome run_loop(const TrainingSchedule& schedule);

  // One step: trains, then advances images_ and steps_ (record_step counts its outcome).
  virtual void train_step() = 0;
  // One metrics.jsonl line and progress update for the steps since the last one.
  virtual void log_interval(MetricsLog& metrics, Progress& progress) = 0;
  // With schedule.eval_every_images > 0: one metrics.jsonl line of scores.
  virtual void evaluate(MetricsLog& /*metrics*/, Progress& /*progress*/) {}
  virtual void save_checkpoint() = 0;
  virtual void write_preview() {}
  // The networks saved by a stop after too many skipped steps, when they are finite.
  virtual std::vector<Tensor> trained_parameters() const = 0;
  // The error that stops the run after too many skipped steps; `saved` says what was kept.
  virtual std::string skip_limit_message(const std::string& saved) const = 0;
  // "the networks of the last good step (12) are saved in runs/x": what a stop keeps when
  // the networks are finite.
  virtual std::string saved_networks_text() const = 0;

  // One piece of state.safetensors: the tensors named "<name>.<...>" (a network's weights, an
  // optimizer's moments), or with `single` the one tensor named `name` (a random stream's
  // position). `save` gives the tensors (names without the prefix); `restore` takes those the
  // file holds (none when it has no such entries; a single part must be there).
  struct StatePart {
    std::string name;
    bool single = false;
    std::function<nn::NamedTensors()> save;
    std::function<void(const nn::NamedTensors&)> restore;
  };
  // An optimizer or EMA: anything with state() and load_state() (a module: module_part).
  template <class Stateful>
  static StatePart stateful_part(const std::string& name, Stateful& s) {
    return {name, false, [&s] { return s.state(); },
            [&s](const nn::NamedTensors& t) { s.load_state(t); }};
  }
  static StatePart module_part(const std::string& name, nn::Module& module);
  // The loop's counters (steps, images, skipped steps), the entry "progress".
  StatePart progress_part();
  static StatePart rng_part(const std::string& name, Rng& rng);
  // A data stream's position: anything with state() and restore() of a std::vector<int64_t>.
  template <class Source>
  static StatePart data_part(const std::string& name, Source& source) {
    return {name, true,
            [&source] {
              return nn::NamedTensors{{"", i64_vector(source.state())}};
            },
            [&source](const nn::NamedTensors& t) {
              source.restore(t.front().second.template to_vector<int64_t>());
            }};
  }

  // What the run's state.safetensors holds (progress_part() among it), in the order written.
  virtual std::vector<StatePart> state_parts() = 0;
  // Writes <out>/state.safetensors (atomically, with a CRC): every part, with `kind` and the
  // run's config in its metadata.
  void save_state(const std::string& out, const std::string& kind, const std::string& config_json);
  // Restores every part from <out>/state.safetensors and drops the
  // metrics.jsonl lines logged after it; an error, prefixed with `who`, when the file is missing,
  // not of `kind` (described to the user as `description`) or does not fit the run.
  void restore_state(const std::string& out, const char* who, const std::string& kind,
                     const char* description);

  // The backward pass of the step about to be counted (number steps_ + 1), when its loss is
  // finite; `loss_value` receives the loss (NaN when it is not finite). A gradient of `params`
  // with NaN or inf, which would poison Adam's moments for good, fails the step too. `inject`
  // makes the loss or the gradients of chosen steps non-finite on purpose. Returns whether the
  // step may update the networks; when not, the gradients of `params` are zeroed.
  bool backward_if_finite(const Tensor& loss, const std::vector<Tensor>& params,
                          const NanInjection& inject, double* loss_value = nullptr) const;
  // Counts a step that was skipped (false) or taken (true); returns `taken`.
  bool record_step(bool taken);
  // Images per second since this invocation started, at `elapsed` seconds.
  double images_rate(double elapsed) const;

  int64_t steps_ = 0, images_ = 0, skipped_total_ = 0, consecutive_skips_ = 0;
  double start_images_ = 0;  // where this invocation started

 private:
  [[noreturn]] void stop_after_skips(const TrainingSchedule& schedule);
  // The counters as the "progress" entry, and back (checked).
  Tensor progress_state() const;
  void restore_progress(const Tensor& progress);
};

// The public face of a run its caller steps (TeacherTraining, DistillTraining): owns the run and
// takes its steps as the run's own loop does, without the files, logs and evaluations.
class SteppedTraining {
 public:
  SteppedTraining(const SteppedTraining&) = delete;
  SteppedTraining& operator=(const SteppedTraining&) = delete;

  void step() { loop_->step(); }
  int64_t images() const { return loop_->images(); }  // trained on so far

 protected:
  explicit SteppedTraining(std::unique_ptr<TrainingLoop> loop) : loop_(std::move(loop)) {}
  ~SteppedTraining() = default;
  // The run as the type it was made as.
  template <class Run>
  const Run& loop_as() const {
    return static_cast<const Run&>(*loop_);
  }

 private:
  std::unique_ptr<TrainingLoop> loop_;
};

}  // namespace onestep::run
