#pragma once
// The loop the teacher and the distillation runs share: steps until the image budget is spent
// or a stop signal arrives, a metrics.jsonl line and a progress update every log interval, an
// evaluation every evaluation interval, checkpoints, counting of skipped (non-finite) steps with
// a stop after too many in a row that keeps the last good networks, and the final checkpoint
// and preview. A run supplies its step, logging, checkpoint and preview.

#include <cstdint>
#include <string>
#include <vector>

#include "onestep/run/nonfinite_steps.h"
#include "onestep/run/run.h"
#include "onestep/engine/device.h"
#include "onestep/engine/tensor.h"
#include "onestep/nn/named_tensors.h"
#include "onestep/nn/safetensors.h"

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

struct TrainingOutcome {
  int stop_signal = 0;  // SIGINT/SIGTERM that ended the run, 0 if it ran to the end
  int64_t steps = 0, images = 0, skipped_steps = 0;
  double seconds = 0, images_per_second = 0;
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

// The fields a run's result (TeacherResult, DistillResult) shares with the outcome; the step
// count is named differently in each.
template <class Result>
void copy_outcome(const TrainingOutcome& outcome, Result& result) {
  result.stop_signal = outcome.stop_signal;
  result.images = outcome.images;
  result.skipped_steps = outcome.skipped_steps;
  result.seconds = outcome.seconds;
  result.images_per_second = outcome.images_per_second;
}

class TrainingLoop {
 public:
  virtual ~TrainingLoop() = default;

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

  // The counters as the "progress" entry of state.safetensors, and back (checked).
  Tensor progress_state() const;
  void restore_progress(const Tensor& progress);
  // Writes <out>/state.safetensors (atomically, with a CRC) with `kind` and the run's config in
  // its metadata.
  static void write_state(const std::string& out, const nn::NamedTensors& state,
                          const std::string& kind, const std::string& config_json);
  // Reads <out>/state.safetensors for a resume; an error, prefixed with `who`, when it is missing
  // or not of `kind` (described to the user as `description`).
  static nn::SafetensorsContent read_state(const std::string& out, const char* who,
                                           const std::string& kind, const char* description);

  // Counts a step that was skipped (false) or taken (true); returns `taken`.
  bool record_step(bool taken);
  // Images per second since this invocation started, at `elapsed` seconds.
  double images_rate(double elapsed) const;

  int64_t steps_ = 0, images_ = 0, skipped_total_ = 0, consecutive_skips_ = 0;
  double start_images_ = 0;  // where this invocation started

 private:
  [[noreturn]] void stop_after_skips(const TrainingSchedule& schedule);
};

}  // namespace onestep::run
