#include "onestep/run/training_loop.h"

#include <algorithm>
#include <cmath>

#include "onestep/nn/grad_utils.h"
#include "onestep/nn/safetensors.h"

#include "onestep/engine.h"
#include "onestep/run/process_group.h"
#include "onestep/run/training_state.h"

namespace onestep::run {

namespace {
int64_t next_multiple(int64_t value, int64_t every) {
  return (value / every + 1) * every;
}
}  // namespace

bool TrainingLoop::backward_if_finite(const Tensor& loss, const std::vector<Tensor>& params,
                                      const NanInjection& inject, double* loss_value) const {
  const int64_t number = steps_ + 1;  // as logged in metrics.jsonl
  // Data parallel: the mean over the ranks (NaN when any rank's is not finite), so that every
  // rank takes or skips the step alike; the gradients are averaged before they are checked.
  const double value = mean_over_ranks(inject.loss_at(number) ? NAN : loss.item());
  if (loss_value != nullptr) *loss_value = value;
  bool finite = std::isfinite(value);
  if (finite) {
    loss.backward();
    if (inject.grad_at(number)) poison_gradient(params);
    average_gradients(params);
    finite = nn::zero_nonfinite_grads(params) == 0;
  }
  if (!finite)
    for (const Tensor& p : params) p.zero_grad();
  return finite;
}

bool TrainingLoop::record_step(bool taken) {
  if (taken) {
    consecutive_skips_ = 0;
  } else {
    ++skipped_total_;
    ++consecutive_skips_;
  }
  return taken;
}

Tensor TrainingLoop::progress_state() const {
  return i64_vector({steps_, images_, skipped_total_, consecutive_skips_});
}

void TrainingLoop::restore_progress(const Tensor& progress) {
  const std::vector<int64_t> values = progress.to_vector<int64_t>();
  ONESTEP_CHECK(values.size() == 4, "bad 'progress' entry");
  steps_ = values[0];
  images_ = values[1];
  skipped_total_ = values[2];
  consecutive_skips_ = values[3];
}

TrainingLoop::StatePart TrainingLoop::module_part(const std::string& name, nn::Module& module) {
  return {name, false, [&module] { return module.state_dict(); },
          [&module](const nn::NamedTensors& t) { module.load_state_dict(t); }};
}

TrainingLoop::StatePart TrainingLoop::rng_part(const std::string& name, Rng& rng) {
  return {name, true, [&rng] { return nn::NamedTensors{{"", rng_state(rng)}}; },
          [&rng, name](const nn::NamedTensors& t) { restore_rng(rng, t.front().second, name); }};
}

TrainingLoop::StatePart TrainingLoop::progress_part() {
  return {"progress", true, [this] { return nn::NamedTensors{{"", progress_state()}}; },
          [this](const nn::NamedTensors& t) { restore_progress(t.front().second); }};
}

void TrainingLoop::restore_state(const std::string& out, const char* who, const std::string& kind,
                                 const char* description) {
  const std::string path = join_path(out, "state.safetensors");
  ONESTEP_CHECK(file_exists(path), "{}: cannot resume: {} does not exist", who, path);
  const nn::SafetensorsContent content = nn::load_safetensors(path);
  auto found = content.metadata.find("kind");
  ONESTEP_CHECK(found != content.metadata.end() && found->second == kind, "{}: {} is not {}", who,
                path, description);
  try {
    for (const StatePart& part : state_parts()) {
      if (part.single) {
        part.restore({{"", content.at(part.name)}});
      } else {
        part.restore(with_prefix(content.tensors, part.name + "."));
      }
    }
    if (writes_files()) truncate_metrics(join_path(out, "metrics.jsonl"), images_);
  } catch (const Error& e) {
    ONESTEP_FAIL("{}: cannot resume from {}: {}", who, path, e.what());
  }
}

void TrainingLoop::save_state(const std::string& out, const std::string& kind,
                              const std::string& config_json) {
  nn::NamedTensors state;
  for (const StatePart& part : state_parts()) {
    const nn::NamedTensors tensors = part.save();
    if (part.single) {
      state.emplace_back(part.name, tensors.front().second);
    } else {
      append_with_prefix(state, tensors, part.name + ".");
    }
  }
  nn::save_safetensors(join_path(out, "state.safetensors"), state,
                       {{"kind", kind}, {"config", config_json}}, nn::StorageDType::native,
                       nn::SafetensorsChecksum::crc32);
}

double TrainingLoop::images_rate(double elapsed) const {
  return (static_cast<double>(images_) - start_images_) / std::max(elapsed, 1e-9);
}

TrainingOutcome TrainingLoop::run_loop(const TrainingSchedule& s) {
  StopSignal::install();
  // Data parallel: every rank must start from the same networks (a resume on several hosts
  // reads each host's copy of the run directory).
  check_replicas_agree(trained_parameters(), "networks");
  const bool writer = writes_files();
  MetricsLog metrics(writer ? join_path(s.out, "metrics.jsonl") : std::string());
  Progress progress(s.who, !writer);
  start_images_ = static_cast<double>(images_);
  int64_t next_log = next_multiple(images_, s.log_every_images);
  int64_t next_checkpoint =
      s.checkpoint_every_images > 0 ? next_multiple(images_, s.checkpoint_every_images) : -1;
  const bool evaluates = s.eval_every_images > 0;
  int64_t next_eval = evaluates ? next_multiple(images_, s.eval_every_images) : -1;
  if (evaluates && writer && images_ == 0) evaluate(metrics, progress);  // the curve starts at 0
  reset_peak_memory(s.device);
  // A signal reaches the ranks at different steps: they stop together, at the first step
  // after any of them received one.
  while (images_ < s.total_images && !on_any_rank(StopSignal::requested())) {
    train_step();
    if (consecutive_skips_ >= s.max_consecutive_skips) {
      log_interval(metrics, progress);  // the skipped steps reach metrics.jsonl
      progress.finish();
      stop_after_skips(s);
    }
    // Scored first, so that the progress line below shows the new score.
    if (evaluates && (images_ >= next_eval || images_ >= s.total_images)) {
      if (writer) evaluate(metrics, progress);
      next_eval = next_multiple(images_, s.eval_every_images);
    }
    if (images_ >= next_log || images_ >= s.total_images) {
      log_interval(metrics, progress);
      next_log = next_multiple(images_, s.log_every_images);
    }
    if (next_checkpoint > 0 && images_ >= next_checkpoint && images_ < s.total_images) {
      if (writer) save_checkpoint();
      next_checkpoint = next_multiple(images_, s.checkpoint_every_images);
    }
  }
  progress.finish();
  if (writer) save_checkpoint();
  TrainingOutcome outcome;
  // The signal any rank received: the ranks stopped together.
  outcome.stop_signal = static_cast<int>(max_over_ranks(StopSignal::signal_number()));
  outcome.steps = steps_;
  outcome.images = images_;
  outcome.skipped_steps = skipped_total_;
  outcome.seconds = progress.elapsed_seconds();
  outcome.images_per_second = images_rate(outcome.seconds);
  if (outcome.stop_signal == 0 && s.preview && writer) write_preview();
  // Nobody returns (and may exit) before rank 0's files are written: a rank that exits early
  // would look like a failure to the launcher.
  barrier();
  return outcome;
}

// Skipped steps change neither the weights nor the optimizer's or the EMA's state, so the
// networks are still those of the last good step: saved (when finite) so that no work is lost,
// then the run stops with an error.
void TrainingLoop::stop_after_skips(const TrainingSchedule& s) {
  std::string saved;
  if (all_finite(trained_parameters())) {
    if (writes_files()) save_checkpoint();
    saved = saved_networks_text();
  } else {
    saved = fmt::format("the weights are not finite, so the last checkpoint in {} is kept", s.out);
  }
  // Every rank stops here with the same error; none may end the job before rank 0 has written.
  barrier();
  throw Error(skip_limit_message(saved));
}

}  // namespace onestep::run
