#include "onestep/diffusion/model_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "onestep/engine.h"
#include "onestep/nn/safetensors.h"

namespace onestep::diffusion {

using nlohmann::json;

namespace {

// Reads field `key` of `j` into `out`, keeping the default when absent; a wrong type is an
// error naming the field.
template <class T>
void read_field(const json& j, const char* key, T& out, const char* where) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
  } catch (const json::exception& e) {
    ONESTEP_FAIL("model config: field {}.{} has the wrong type ({})", where, key, j.at(key).dump());
  }
}

json unet_to_json(const nn::SongUNetConfig& c) {
  return {{"arch", "songunet"},
          {"img_resolution", c.img_resolution},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"label_dim", c.label_dim},
          {"augment_dim", c.augment_dim},
          {"model_channels", c.model_channels},
          {"channel_mult", c.channel_mult},
          {"channel_mult_emb", c.channel_mult_emb},
          {"num_blocks", c.num_blocks},
          {"attn_resolutions", c.attn_resolutions},
          {"dropout", c.dropout},
          {"label_dropout", c.label_dropout},
          {"embedding_type", c.embedding_type},
          {"channel_mult_noise", c.channel_mult_noise},
          {"encoder_type", c.encoder_type},
          {"decoder_type", c.decoder_type},
          {"resample_filter", c.resample_filter}};
}

nn::SongUNetConfig unet_from_json(const json& j) {
  nn::SongUNetConfig c;
  const char* w = "network";
  read_field(j, "img_resolution", c.img_resolution, w);
  read_field(j, "in_channels", c.in_channels, w);
  read_field(j, "out_channels", c.out_channels, w);
  read_field(j, "label_dim", c.label_dim, w);
  read_field(j, "augment_dim", c.augment_dim, w);
  read_field(j, "model_channels", c.model_channels, w);
  read_field(j, "channel_mult", c.channel_mult, w);
  read_field(j, "channel_mult_emb", c.channel_mult_emb, w);
  read_field(j, "num_blocks", c.num_blocks, w);
  read_field(j, "attn_resolutions", c.attn_resolutions, w);
  read_field(j, "dropout", c.dropout, w);
  read_field(j, "label_dropout", c.label_dropout, w);
  read_field(j, "embedding_type", c.embedding_type, w);
  read_field(j, "channel_mult_noise", c.channel_mult_noise, w);
  read_field(j, "encoder_type", c.encoder_type, w);
  read_field(j, "decoder_type", c.decoder_type, w);
  read_field(j, "resample_filter", c.resample_filter, w);
  c.validate();
  return c;
}

json mlp_to_json(const nn::ToyMLPConfig& c) {
  return {{"arch", "mlp"},
          {"dim", c.dim},
          {"hidden", c.hidden},
          {"num_blocks", c.num_blocks},
          {"noise_channels", c.noise_channels},
          {"label_dim", c.label_dim}};
}

nn::ToyMLPConfig mlp_from_json(const json& j) {
  nn::ToyMLPConfig c;
  const char* w = "network";
  read_field(j, "dim", c.dim, w);
  read_field(j, "hidden", c.hidden, w);
  read_field(j, "num_blocks", c.num_blocks, w);
  read_field(j, "noise_channels", c.noise_channels, w);
  read_field(j, "label_dim", c.label_dim, w);
  c.validate();
  return c;
}

}  // namespace

int64_t ModelConfig::label_dim() const {
  return arch == "mlp" ? mlp.label_dim : unet.label_dim;
}

std::string ModelConfig::to_json() const {
  json j = {{"kind", "edm-denoiser"},
            {"sigma_data", sigma_data},
            {"label_dim", label_dim()},
            {"network", arch == "mlp" ? mlp_to_json(mlp) : unet_to_json(unet)},
            {"data", {{"spec", data_spec}, {"shape", data_shape}}},
            {"source", source}};
  if (one_step_sigma > 0) j["one_step_sigma"] = one_step_sigma;
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    ONESTEP_FAIL("model config: not valid JSON ({})", e.what());
  }
  ONESTEP_CHECK(j.is_object(), "model config: expected a JSON object");
  std::string kind;
  read_field(j, "kind", kind, "config");
  ONESTEP_CHECK(kind == "edm-denoiser", "model config: kind '{}' is not 'edm-denoiser'", kind);
  ONESTEP_CHECK(j.contains("network") && j["network"].is_object(),
                "model config: no 'network' object");
  ModelConfig c;
  read_field(j, "sigma_data", c.sigma_data, "config");
  ONESTEP_CHECK(c.sigma_data > 0, "model config: sigma_data must be positive");
  read_field(j["network"], "arch", c.arch, "network");
  if (c.arch == "songunet") {
    c.unet = unet_from_json(j["network"]);
  } else if (c.arch == "mlp") {
    c.mlp = mlp_from_json(j["network"]);
  } else {
    ONESTEP_FAIL("model config: unknown network arch '{}' (songunet or mlp)", c.arch);
  }
  if (j.contains("label_dim")) {
    int64_t label_dim = 0;
    read_field(j, "label_dim", label_dim, "config");
    ONESTEP_CHECK(label_dim == c.label_dim(),
                  "model config: label_dim {} disagrees with the network's {}", label_dim,
                  c.label_dim());
  }
  if (j.contains("data") && j["data"].is_object()) {
    read_field(j["data"], "spec", c.data_spec, "data");
    read_field(j["data"], "shape", c.data_shape, "data");
  }
  read_field(j, "source", c.source, "config");
  read_field(j, "one_step_sigma", c.one_step_sigma, "config");
  ONESTEP_CHECK(c.one_step_sigma >= 0 && std::isfinite(c.one_step_sigma),
                "model config: one_step_sigma must be >= 0, got {}", c.one_step_sigma);
  return c;
}

std::shared_ptr<EDMPrecond> build_denoiser(const ModelConfig& config, Generator& gen) {
  std::shared_ptr<nn::NoiseConditionedNet> net;
  if (config.arch == "mlp") {
    net = std::make_shared<nn::ToyMLP>(config.mlp, gen);
  } else {
    net = std::make_shared<nn::SongUNet>(config.unet, gen);
  }
  return std::make_shared<EDMPrecond>(net, config.sigma_data);
}

LoadedDenoiser load_denoiser(const std::string& path) {
  const nn::SafetensorsContent content = nn::load_safetensors(path);
  auto it = content.metadata.find("config");
  ONESTEP_CHECK(it != content.metadata.end(),
                "{}: not a onestep model (no 'config' in the safetensors metadata)", path);
  LoadedDenoiser loaded;
  try {
    loaded.config = ModelConfig::from_json(it->second);
  } catch (const Error& e) {
    ONESTEP_FAIL("{}: {}", path, e.what());
  }
  Generator unused(0);  // the weights come from the file
  loaded.net = build_denoiser(loaded.config, unused);
  try {
    loaded.net->load_state_dict(content.tensors, "__");
  } catch (const Error& e) {
    ONESTEP_FAIL("{}: {}", path, e.what());
  }
  loaded.net->eval();
  loaded.metadata = content.metadata;
  return loaded;
}

void save_denoiser(const std::string& path, const EDMPrecond& net, const ModelConfig& config,
                   const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> all = metadata;
  all["config"] = config.to_json();
  nn::save_safetensors(path, net.state_dict(), all);
}

}  // namespace onestep::diffusion
