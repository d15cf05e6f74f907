#include "onestep/run/run.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "onestep/engine/error.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::run {

namespace {
std::atomic<int> received_signal{0};

extern "C" void on_stop_signal(int number) {
  if (received_signal.exchange(number) != 0) {
    // Second signal: the user insists. Restore the default action and re-raise.
    std::signal(number, SIG_DFL);
    std::raise(number);
  }
}
}  // namespace

void StopSignal::install() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
bool StopSignal::requested() {
  return received_signal.load() != 0;
}
int StopSignal::signal_number() {
  return received_signal.load();
}
void StopSignal::clear() {
  received_signal.store(0);
}
void StopSignal::request(int number) {
  received_signal.store(number);
}

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  file_ = std::fopen(path.c_str(), "a");
  ONESTEP_CHECK(file_ != nullptr, "cannot open {} for appending: {}", path, std::strerror(errno));
}

double metric_value(const MetricValues& values, const std::string& key) {
  for (const auto& [name, value] : values)
    if (name == key) return value;
  return NAN;
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const MetricValues& values) {
  if (file_ == nullptr) return;
  std::string line = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i].second;
    std::string number;
    if (!std::isfinite(v)) {
      number = "null";  // JSON has no NaN or infinity
    } else if (v == std::floor(v) && std::abs(v) < 9e15) {
      number = fmt::format("{}", static_cast<int64_t>(v));
    } else {
      number = fmt::format("{:.9g}", v);
    }
    line += fmt::format("{}\"{}\": {}", i ? ", " : "", values[i].first, number);
  }
  line += "}\n";
  ONESTEP_CHECK(std::fputs(line.c_str(), file_) >= 0 && std::fflush(file_) == 0,
                "cannot write to {}: {}", path_, std::strerror(errno));
}

Progress::Progress(std::string label, bool quiet)
    : label_(std::move(label)),
      start_(std::chrono::steady_clock::now()),
      terminal_(isatty(STDERR_FILENO) != 0),
      quiet_(quiet) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(double fraction, double eta_seconds, const std::string& text) {
  if (quiet_) return;
  const double elapsed = elapsed_seconds();
  const std::string eta = eta_seconds >= 0 && fraction < 1 ? format_duration(eta_seconds) : "-";
  const std::string line = fmt::format("{} {:5.1f}% | {} elapsed, ETA {} | {}", label_,
                                       100 * fraction, format_duration(elapsed), eta, text);
  if (terminal_) {
    fmt::print(stderr, "\r\033[K{}", line);
    open_line_ = true;
  } else {
    fmt::print(stderr, "{}\n", line);
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (open_line_) fmt::print(stderr, "\n");
  open_line_ = false;
}

void truncate_metrics(const std::string& path, int64_t images) {
  if (!file_exists(path)) return;
  const std::vector<uint8_t> bytes = nn::read_file(path);
  std::string kept, line;
  for (size_t i = 0; i <= bytes.size(); ++i) {
    if (i < bytes.size() && bytes[i] != '\n') {
      line.push_back(static_cast<char>(bytes[i]));
      continue;
    }
    if (line.empty()) continue;
    // A line cut short by a crash or a full disk is dropped: what follows it is a new record.
    if (line.back() != '}') {
      line.clear();
      continue;
    }
    const size_t key = line.find("\"images\": ");
    const bool keep =
        key == std::string::npos || std::strtoll(line.c_str() + key + 10, nullptr, 10) <= images;
    if (keep) kept += line + "\n";
    line.clear();
  }
  nn::write_file_atomically(path, kept.data(), kept.size());
}

void remove_stale_temp_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    // nn::write_file_atomically's temp files are "<name>.tmp.<pid>".
    const std::string name = it->path().filename().string();
    const size_t tmp = name.rfind(".tmp.");
    if (tmp == std::string::npos || tmp + 5 == name.size()) continue;
    const std::string digits = name.substr(tmp + 5);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    // A live writer (ours, or another process) keeps its file; a dead one left it behind.
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    fs::remove(it->path(), ignored);
  }
}

void remove_if_exists(const std::string& path) {
  std::error_code error;
  std::filesystem::remove(path, error);
  ONESTEP_CHECK(!error, "cannot remove {}: {}", path, error.message());
}

void check_run_directory(const std::string& dir, bool resume, const char* who) {
  std::error_code error;
  const bool exists = std::filesystem::exists(dir, error);
  ONESTEP_CHECK(!exists || std::filesystem::is_directory(dir, error),
                "{}: out {} exists and is not a directory", who, dir);
  if (resume) {
    ONESTEP_CHECK(file_exists(join_path(dir, "config.json")),
                  "{}: no run to resume in {} (it has no config.json)", who, dir);
  } else {
    if (file_exists(join_path(dir, "state.safetensors")))
      throw RunDirectoryInUse(fmt::format("{}: {} already holds a run", who, dir));
  }
}

void write_run_config(const std::string& run_dir, const std::string& config_json) {
  nn::write_file_atomically(join_path(run_dir, "config.json"), config_json.data(),
                            config_json.size());
}

std::string read_config_text(const std::string& run_dir) {
  const std::string path = join_path(run_dir, "config.json");
  ONESTEP_CHECK(file_exists(path), "no run to resume in {}: {} does not exist", run_dir, path);
  const std::vector<uint8_t> bytes = nn::read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

void prepare_run_directory(const std::string& dir, bool resume, const char* who) {
  ensure_directory(dir);
  remove_stale_temp_files(dir);
  if (!resume) {
    check_run_directory(dir, false, who);
    // This run starts over, so its metrics do too.
    remove_if_exists(join_path(dir, "metrics.jsonl"));
  }
}

void ensure_directory(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  ONESTEP_CHECK(!error && std::filesystem::is_directory(dir), "cannot create directory {}: {}", dir,
                error ? error.message() : "exists and is not a directory");
}

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

bool file_exists(const std::string& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  const int64_t s = static_cast<int64_t>(seconds);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}h{:02d}m{:02d}s", s / 3600, (s % 3600) / 60, s % 60);
}

}  // namespace onestep::run
