#pragma once
// The fuzz targets: one function per parser, from raw bytes to "parsed" or onestep::Error.
//
// Each runs the parser as the command does on a file's bytes and touches what it returns. Any
// other outcome is a bug: a crash or sanitizer report, or an exception that is not an
// onestep::Error (libFuzzer reports it as a crash). The same functions serve the libFuzzer
// binaries (libfuzzer_entry.cpp) and the regression test that replays fuzz/corpus and
// fuzz/regressions in the ordinary test suite (tests/fuzz).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace onestep::fuzz {

void safetensors(const uint8_t* data, size_t size);    // nn::parse_safetensors
void checkpoint(const uint8_t* data, size_t size);     // a model file: metadata config + weights
void fashion_mnist(const uint8_t* data, size_t size);  // IDX images + labels, gzip'ed or plain
void cifar10(const uint8_t* data, size_t size);        // one binary batch
void png_folder(const uint8_t* data, size_t size);     // PNG files decoded and assembled
void npy(const uint8_t* data, size_t size);            // .npy and its conversion to a tensor
void config_json(const uint8_t* data, size_t size);    // model, teacher and distill configs

using Target = void (*)(const uint8_t* data, size_t size);

struct NamedTarget {
  const char* name;  // also the folder under fuzz/corpus and fuzz/regressions
  Target run;
};

const std::vector<NamedTarget>& all_targets();

// Runs `target` on one input, swallowing onestep::Error (a refusal is a correct answer).
void run_one(Target target, const uint8_t* data, size_t size);

// Inputs that hold several files (a folder, an images + labels pair) separate them with
// kFileSeparator, so that the seed corpus can hold whole valid sets.
inline constexpr const char kFileSeparator[] = "--onestep-fuzz-next-file--";
std::vector<std::vector<uint8_t>> split_files(const uint8_t* data, size_t size);

// A value that depends on every byte of `data` (so reads of returned buffers are not optimised
// away and are checked by the sanitizers).
uint64_t touch(const void* data, size_t size);

}  // namespace onestep::fuzz
