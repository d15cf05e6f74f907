#pragma once
// Self-describing denoiser checkpoints: a safetensors file whose metadata "config" holds the
// model's configuration as JSON (docs/EDM_CHECKPOINTS.md):
//   {"kind": "edm-denoiser", "sigma_data": 0.5, "label_dim": L,
//    "network": {"arch": "songunet", <EDM's SongUNet kwargs>} |
//               {"arch": "dhariwalunet", <EDM's DhariwalUNet kwargs>} | {"arch": "mlp", ...},
//    "data": {"spec": "fashion-mnist", "shape": [1, 32, 32]}, "source": "...",
//    "one_step_sigma": 2.5 (one-step generators only)}

#include <map>
#include <memory>
#include <string>

#include "onestep/diffusion/edm.h"
#include "onestep/engine/enum_names.h"
#include "onestep/nn/dhariwal_unet.h"
#include "onestep/nn/safetensors.h"
#include "onestep/nn/song_unet.h"
#include "onestep/nn/toy_mlp.h"

namespace onestep::diffusion {

// The network a denoiser is built on: EDM's SongUNet (DDPM++, NCSN++) or DhariwalUNet (ADM) for
// images, or the residual MLP (2-D points).
enum class NetworkArch { songunet, mlp, dhariwalunet };
// Each arch with its name in config.json and on the command line ("songunet", "mlp",
// "dhariwalunet").
const EnumNames<NetworkArch>& network_arch_names();
std::string arch_name(NetworkArch arch);

struct ModelConfig {
  NetworkArch arch = NetworkArch::songunet;
  nn::SongUNetConfig unet;
  nn::DhariwalUNetConfig adm;
  nn::ToyMLPConfig mlp;
  double sigma_data = 0.5;
  std::string data_spec;  // the dataset the model was trained on, if known
  Shape data_shape;       // one sample: [C, H, W] or [2]
  std::string source;     // free text: how the checkpoint was made
  // > 0 for a one-step generator: samples are D(sigma z; sigma) at this sigma (docs/DISTILL.md);
  // 0 for a denoiser that is sampled with an ODE solver.
  double one_step_sigma = 0;

  int64_t label_dim() const;
  // The shape of one sample the network takes: [C, H, W] or [dim].
  Shape network_input_shape() const;
  // Throws onestep::Error naming the first bad setting of the chosen network.
  void validate_network() const;
  std::string to_json() const;
  // Throws onestep::Error naming the field on malformed or unsupported input.
  static ModelConfig from_json(const std::string& text);
};

std::shared_ptr<EdmPrecond> build_denoiser(const ModelConfig& config, Rng& gen);

struct LoadedDenoiser {
  ModelConfig config;
  std::shared_ptr<EdmPrecond> net;
  std::map<std::string, std::string> metadata;
};

// Builds the network from the file's config and loads its weights; a missing, unexpected or
// mis-shaped key is an error naming it. Entries whose names start with "__" are ignored (room
// for extra data beside the weights).
LoadedDenoiser load_denoiser(const std::string& path);
// The same from a parsed file (`path` names it in messages). A config that implies more
// parameters than the file holds values is refused before the network is allocated.
LoadedDenoiser denoiser_from_safetensors(const nn::SafetensorsContent& content,
                                         const std::string& path);
// A lower bound on the parameter count of the network `config` describes (double: a damaged
// config's count may not fit in an integer).
double min_parameter_count(const ModelConfig& config);

// Atomic; `metadata` is stored beside "config".
void save_denoiser(const std::string& path, const EdmPrecond& net, const ModelConfig& config,
                   const std::map<std::string, std::string>& metadata = {});

}  // namespace onestep::diffusion
