#pragma once
// What every long-running job shares: a run directory, metrics.jsonl, stop requests from
// SIGINT/SIGTERM, and a progress line.

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "onestep/engine/error.h"

namespace onestep::run {

// SIGINT and SIGTERM set a flag that training loops poll, so they can write a checkpoint and
// exit; a second signal terminates at once.
class StopSignal {
 public:
  static void install();
  static bool requested();
  static int signal_number();              // the signal received, 0 if none
  static void clear();                     // for tests and for sequential runs in one process
  static void request(int signal_number);  // as if the signal had arrived (tests)
};

using MetricValues = std::vector<std::pair<std::string, double>>;
// The value named `key`; NaN when there is none.
double metric_value(const MetricValues& values, const std::string& key);

// Appends one JSON object per line to <run>/metrics.jsonl; with an empty path, writes nothing
// (the ranks of a data-parallel run other than rank 0).
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const MetricValues& values);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// A one-line status on stderr: rewritten in place on a terminal, one plain line per call
// otherwise.
class Progress {
 public:
  // `quiet`: prints nothing (the ranks of a data-parallel run other than rank 0).
  explicit Progress(std::string label, bool quiet = false);
  // fraction of the whole run done, in [0, 1]; eta_seconds < 0 when unknown; `text` follows the
  // elapsed time and ETA.
  void update(double fraction, double eta_seconds, const std::string& text);
  void finish();
  double elapsed_seconds() const;

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  bool terminal_;
  bool quiet_;
  bool open_line_ = false;
};

// Drops the lines of a metrics.jsonl whose "images" exceed `images`: what a run logged after its
// last checkpoint, which a resumed run logs again.
void truncate_metrics(const std::string& path, int64_t images);

// Removes the temp files that atomic writes killed mid-way (kill -9, power loss) left in `dir`,
// those whose writing process is gone. Best effort: errors are ignored.
void remove_stale_temp_files(const std::string& dir);

// Removes `path` when it exists; throws onestep::Error when it cannot.
void remove_if_exists(const std::string& path);

// How a run went: what TeacherResult and DistillResult start with.
struct TrainingOutcome {
  int64_t steps = 0;  // optimizer steps (distillation: generator iterations)
  int64_t images = 0;
  int64_t skipped_steps = 0;
  double seconds = 0;  // this invocation only
  double images_per_second = 0;
  int stop_signal = 0;  // the signal (SIGINT/SIGTERM) that ended the run, 0 when it completed
};

// A fresh run asked to write where a run already is (which only resuming may continue).
class RunDirectoryInUse : public Error {
 public:
  using Error::Error;
};

// The run directory before any work: not a file; holding a run (config.json) when resuming, and
// no run (state.safetensors, else RunDirectoryInUse) otherwise. Throws onestep::Error prefixed
// with `who`.
void check_run_directory(const std::string& dir, bool resume, const char* who);

// Makes --out ready for a run, after the options were validated: creates it, removes the temp
// files of killed atomic writes, and for a fresh run refuses a directory holding one (as
// check_run_directory) and drops the metrics.jsonl a run killed before its first checkpoint
// left behind.
void prepare_run_directory(const std::string& dir, bool resume, const char* who);

// Writes <run_dir>/config.json atomically.
void write_run_config(const std::string& run_dir, const std::string& config_json);

// The text of <run_dir>/config.json; throws onestep::Error when the run has none.
std::string read_config_text(const std::string& run_dir);

// Creates `dir` (and parents); throws onestep::Error if it cannot.
void ensure_directory(const std::string& dir);
std::string join_path(const std::string& dir, const std::string& name);
bool file_exists(const std::string& path);
// Seconds as "1h02m03s" / "2m03s" / "4.5s".
std::string format_duration(double seconds);

// Options::from_json of <run_dir>/config.json (TeacherOptions, DistillOptions); an error that
// does not parse names the file.
template <class Options>
Options read_run_config(const std::string& run_dir) {
  const std::string text = read_config_text(run_dir);
  try {
    return Options::from_json(text);
  } catch (const Error& e) {
    throw Error(join_path(run_dir, "config.json") + ": " + e.what());
  }
}

}  // namespace onestep::run
