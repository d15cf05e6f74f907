// The JSON that onestep reads back: a model config (checkpoint metadata) and a run's config.json
// (teacher and distill). Each reader gets the same text and must accept it or refuse it with an
// onestep::Error, never let a JSON library exception or a crash through; what it accepts must
// write out and read back (resume depends on it).

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "fuzz_targets.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/distill/distill.h"
#include "onestep/engine/error.h"

namespace onestep::fuzz {

namespace {

template <class Options>
std::optional<Options> parse_or_refuse(const std::string& text) {
  try {
    return Options::from_json(text);
  } catch (const Error&) {
    return std::nullopt;
  }
}

template <class Options>
void expect_round_trip(const Options& options, const char* what) {
  try {
    (void)Options::from_json(options.to_json());
  } catch (const Error& e) {
    std::fprintf(stderr, "%s accepted a config that does not read back: %s\n", what, e.what());
    std::abort();
  }
}

}  // namespace

void config_json(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (const auto model = parse_or_refuse<diffusion::ModelConfig>(text)) {
    (void)diffusion::min_parameter_count(*model);
    expect_round_trip(*model, "ModelConfig");
  }
  if (const auto teacher = parse_or_refuse<diffusion::TeacherOptions>(text))
    expect_round_trip(*teacher, "TeacherOptions");
  if (const auto distillation = parse_or_refuse<distill::DistillOptions>(text))
    expect_round_trip(*distillation, "DistillOptions");
}

}  // namespace onestep::fuzz
