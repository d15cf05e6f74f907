#include "onestep/diffusion/model_config.h"

#include <cmath>
#include <optional>
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

// Each network's fields, listed once: visit(key, member) for every field config.json stores.
// C is the config, const when writing JSON and mutable when reading it.
template <class Config>
struct NetworkFields;

// The fields SongUNet and DhariwalUNet share, in EDM's order.
template <class C, class Visit>
void visit_unet_fields(C& c, Visit&& visit) {
  visit("img_resolution", c.img_resolution);
  visit("in_channels", c.in_channels);
  visit("out_channels", c.out_channels);
  visit("label_dim", c.label_dim);
  visit("augment_dim", c.augment_dim);
  visit("model_channels", c.model_channels);
  visit("channel_mult", c.channel_mult);
  visit("channel_mult_emb", c.channel_mult_emb);
  visit("num_blocks", c.num_blocks);
  visit("attn_resolutions", c.attn_resolutions);
  visit("dropout", c.dropout);
  visit("label_dropout", c.label_dropout);
}

template <>
struct NetworkFields<nn::SongUNetConfig> {
  static constexpr const char* kArch = "songunet";
  template <class C, class Visit>
  static void visit(C& c, Visit&& visit) {
    visit_unet_fields(c, visit);
    visit("embedding_type", c.embedding_type);
    visit("channel_mult_noise", c.channel_mult_noise);
    visit("encoder_type", c.encoder_type);
    visit("decoder_type", c.decoder_type);
    visit("resample_filter", c.resample_filter);
  }
};

template <>
struct NetworkFields<nn::DhariwalUNetConfig> {
  static constexpr const char* kArch = "dhariwalunet";
  template <class C, class Visit>
  static void visit(C& c, Visit&& visit) {
    visit_unet_fields(c, visit);
  }
};

template <>
struct NetworkFields<nn::ToyMLPConfig> {
  static constexpr const char* kArch = "mlp";
  template <class C, class Visit>
  static void visit(C& c, Visit&& visit) {
    visit("dim", c.dim);
    visit("hidden", c.hidden);
    visit("num_blocks", c.num_blocks);
    visit("noise_channels", c.noise_channels);
    visit("label_dim", c.label_dim);
  }
};

template <class Config>
json network_to_json(const Config& c) {
  json j = {{"arch", NetworkFields<Config>::kArch}};
  NetworkFields<Config>::visit(c, [&](const char* key, const auto& member) { j[key] = member; });
  return j;
}

template <class Config>
Config network_from_json(const json& j) {
  Config c;
  NetworkFields<Config>::visit(
      c, [&](const char* key, auto& member) { read_field(j, key, member, "network"); });
  c.validate();
  return c;
}

}  // namespace

const EnumNames<NetworkArch>& network_arch_names() {
  static const EnumNames<NetworkArch> names = {{NetworkArch::songunet, "songunet"},
                                               {NetworkArch::mlp, "mlp"},
                                               {NetworkArch::dhariwalunet, "dhariwalunet"}};
  return names;
}

std::string arch_name(NetworkArch arch) {
  if (const std::string* name = name_of(network_arch_names(), arch)) return *name;
  ONESTEP_FAIL("unknown network arch {}", static_cast<int>(arch));
}

int64_t ModelConfig::label_dim() const {
  switch (arch) {
    case NetworkArch::mlp:
      return mlp.label_dim;
    case NetworkArch::dhariwalunet:
      return adm.label_dim;
    case NetworkArch::songunet:
      break;
  }
  return unet.label_dim;
}

Shape ModelConfig::network_input_shape() const {
  switch (arch) {
    case NetworkArch::mlp:
      return {mlp.dim};
    case NetworkArch::dhariwalunet:
      return {adm.in_channels, adm.img_resolution, adm.img_resolution};
    case NetworkArch::songunet:
      break;
  }
  return {unet.in_channels, unet.img_resolution, unet.img_resolution};
}

void ModelConfig::validate_network() const {
  switch (arch) {
    case NetworkArch::mlp:
      return mlp.validate();
    case NetworkArch::dhariwalunet:
      return adm.validate();
    case NetworkArch::songunet:
      return unet.validate();
  }
}

std::string ModelConfig::to_json() const {
  json j = {{"kind", "edm-denoiser"},
            {"sigma_data", sigma_data},
            {"label_dim", label_dim()},
            {"network", arch == NetworkArch::mlp            ? network_to_json(mlp)
                        : arch == NetworkArch::dhariwalunet ? network_to_json(adm)
                                                            : network_to_json(unet)},
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
  std::string arch;
  read_field(j["network"], "arch", arch, "network");
  const std::optional<NetworkArch> known = value_named(network_arch_names(), arch);
  ONESTEP_CHECK(known.has_value(), "model config: unknown network arch '{}' ({})", arch,
                fmt::join(names_in(network_arch_names()), ", "));
  c.arch = *known;
  switch (c.arch) {
    case NetworkArch::songunet:
      c.unet = network_from_json<nn::SongUNetConfig>(j["network"]);
      break;
    case NetworkArch::dhariwalunet:
      c.adm = network_from_json<nn::DhariwalUNetConfig>(j["network"]);
      break;
    case NetworkArch::mlp:
      c.mlp = network_from_json<nn::ToyMLPConfig>(j["network"]);
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
  if (!c.data_shape.empty()) {
    // Samplers build latents of this shape and image writers index it as [C, H, W]: it must be
    // what the network takes.
    const Shape expected = c.network_input_shape();
    ONESTEP_CHECK(c.data_shape == expected,
                  "model config: data shape {} does not fit the network, which takes {}",
                  shape_str(c.data_shape), shape_str(expected));
  }
  read_field(j, "source", c.source, "config");
  read_field(j, "one_step_sigma", c.one_step_sigma, "config");
  ONESTEP_CHECK(c.one_step_sigma >= 0 && std::isfinite(c.one_step_sigma),
                "model config: one_step_sigma must be >= 0, got {}", c.one_step_sigma);
  return c;
}

std::shared_ptr<EdmPrecond> build_denoiser(const ModelConfig& config, Rng& gen) {
  std::shared_ptr<nn::NoiseConditionedNet> net;
  switch (config.arch) {
    case NetworkArch::mlp:
      net = std::make_shared<nn::ToyMLP>(config.mlp, gen);
      break;
    case NetworkArch::dhariwalunet:
      net = std::make_shared<nn::DhariwalUNet>(config.adm, gen);
      break;
    case NetworkArch::songunet:
      net = std::make_shared<nn::SongUNet>(config.unet, gen);
  }
  return std::make_shared<EdmPrecond>(net, config.sigma_data);
}

double min_parameter_count(const ModelConfig& config) {
  // Doubles: a hostile config's products may not fit in int64 (the result is compared, not used).
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  if (config.arch == NetworkArch::mlp) {
    const nn::ToyMLPConfig& m = config.mlp;
    // map_label, map_layer0, input, and fc0 + fc1 of every block.
    return d(m.label_dim) * d(m.noise_channels) + d(m.noise_channels) * d(m.hidden) +
           d(m.dim) * d(m.hidden) + 2 * d(m.num_blocks) * d(m.hidden) * d(m.hidden);
  }
  // map_label, map_layer1, and the 3x3 conv1 (C x C) of each of the 2 * num_blocks + 1 blocks
  // (encoder and decoder) at every level.
  const auto unet_count = [&](const auto& u, double label_width) {
    const double emb = d(u.model_channels) * d(u.channel_mult_emb);
    double total = d(u.label_dim) * label_width + emb * emb;
    for (int64_t mult : u.channel_mult) {
      const double c = d(u.model_channels) * d(mult);
      total += (2 * d(u.num_blocks) + 1) * 9 * c * c;
    }
    return total;
  };
  if (config.arch == NetworkArch::dhariwalunet)  // map_label maps to the embedding
    return unet_count(config.adm, d(config.adm.model_channels) * d(config.adm.channel_mult_emb));
  return unet_count(config.unet, d(config.unet.model_channels) * d(config.unet.channel_mult_noise));
}

LoadedDenoiser load_denoiser(const std::string& path) {
  return denoiser_from_safetensors(nn::load_safetensors(path), path);
}

LoadedDenoiser denoiser_from_safetensors(const nn::SafetensorsContent& content,
                                         const std::string& path) {
  auto it = content.metadata.find("config");
  ONESTEP_CHECK(it != content.metadata.end(),
                "{}: not a onestep model (no 'config' in the safetensors metadata)", path);
  LoadedDenoiser loaded;
  try {
    loaded.config = ModelConfig::from_json(it->second);
  } catch (const Error& e) {
    ONESTEP_FAIL("{}: {}", path, e.what());
  }
  // The network is allocated before its weights are compared with the file's, so a config that
  // claims more parameters than the file holds is refused first: a damaged or hostile header
  // must not allocate beyond the file's own size.
  double elements = 0;
  for (const auto& [name, t] : content.tensors) elements += static_cast<double>(t.numel());
  const double needed = min_parameter_count(loaded.config);
  ONESTEP_CHECK(needed <= elements,
                "{}: the config describes a network of at least {:.0f} parameters, but the file "
                "holds only {:.0f} values",
                path, needed, elements);
  Rng unused(0);  // the weights come from the file
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

void save_denoiser(const std::string& path, const EdmPrecond& net, const ModelConfig& config,
                   const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> all = metadata;
  all["config"] = config.to_json();
  nn::save_safetensors(path, net.state_dict(), all, nn::StorageDType::native,
                       nn::SafetensorsChecksum::crc32);
}

}  // namespace onestep::diffusion
