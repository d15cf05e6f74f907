#pragma once
// Training an EDM teacher (`onestep teacher`): EDM loss, Adam with learning-rate warm-up, EMA
// with EDM's half-life and ramp-up, gradient clipping, non-finite steps skipped and counted,
// checkpoints every N images and at the end (atomic), exact resume, metrics.jsonl, a progress
// line, and a checkpoint on SIGINT/SIGTERM.
//
// Run directory:
//   config.json          every setting, resolved (resume reads it back)
//   metrics.jsonl        one object per log interval
//   teacher.safetensors  the EMA network with its model config: what `onestep sample` and
//                        `onestep distill` load
//   state.safetensors    raw weights, Adam and EMA state, random-stream and data positions
//   samples.png          a preview grid (images) or scatter plot (2-D) of the final EMA network

#include <memory>
#include <string>
#include <vector>

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/edm.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/run/nonfinite_steps.h"
#include "onestep/run/option_table.h"
#include "onestep/run/run.h"
#include "onestep/run/training_loop.h"

namespace onestep::diffusion {

struct TeacherOptions : run::RunSettings {
  std::string data = "toy:25gaussians";
  bool hflip = false;
  bool cond = false;  // class-conditional (needs labelled data)
  ModelConfig model;  // data-dependent fields are filled in from the dataset

  int64_t batch = 256;
  int64_t total_images = 1000000;
  double lr = 1e-3;
  int64_t lr_warmup_images = 0;  // linear warm-up from 0
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  double ema_halflife_images = 500000;
  double ema_rampup = 0.05;  // half-life capped at images_seen * ema_rampup (0: off)
  double grad_clip = 0;      // clip the global gradient norm (0: off)
  EdmLossOptions loss;

  int64_t preview_steps = 18;  // Heun steps for the preview

  TeacherOptions() : RunSettings("runs/teacher") {}

  void validate() const;
  std::string to_json() const;
  static TeacherOptions from_json(const std::string& text);
};

// Every setting of TeacherOptions, described once: config.json, validate() and the command's
// flags come from it.
const run::OptionTable<TeacherOptions>& teacher_option_table();

const std::vector<std::string>& teacher_preset_names();
// "toy" (MLP on 2-D data, seconds), "fmnist-cpu" (small SongUNet, ~30 min on 2 cores),
// "fmnist" (the GPU-size model), "cifar10" (EDM's DDPM++ exactly).
TeacherOptions teacher_preset(const std::string& name);

struct TeacherResult : run::TrainingOutcome {
  double last_loss = 0;
};

// Trains from scratch into options.out (which must not already hold a run), or with `resume`
// continues the run in options.out, reading its config.json; options.total_images and the
// logging/checkpoint intervals may be changed on resume.
TeacherResult train_teacher(const TeacherOptions& options, bool resume);

// Everything that can be checked before any work, for a clear refusal of bad flags: validate(),
// the run directory, the dataset spec and its folder, the network against the data's shape, and
// the device. Throws onestep::Error naming the setting. train_teacher checks the same again.
void check_teacher_options(const TeacherOptions& options, bool resume);

// Reads <run>/config.json.
inline TeacherOptions read_teacher_config(const std::string& run_dir) {
  return run::read_run_config<TeacherOptions>(run_dir);
}

// A teacher's network, optimiser and EMA, stepped by the caller: the step train_teacher() runs
// (learning-rate warm-up, EDM loss, backward, non-finite check, gradient clipping, Adam, EMA
// update), without its files and logs. `onestep bench` times it.
class TeacherTraining : public run::SteppedTraining {
 public:
  // The data of options.data.
  explicit TeacherTraining(const TeacherOptions& options);
  // A data stream already in memory.
  TeacherTraining(const TeacherOptions& options, std::unique_ptr<DataSource> data);
  ~TeacherTraining();

  // step() and images() (batch x steps) come from SteppedTraining.
  // The network as trained (train_teacher saves the EMA of its weights as teacher.safetensors).
  const EdmPrecond& network() const;
};

}  // namespace onestep::diffusion
