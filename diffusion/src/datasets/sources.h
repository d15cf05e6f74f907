#pragma once
// Pieces shared by the dataset files (internal to onestep::diffusion).

#include <memory>
#include <string>

#include "onestep/diffusion/datasets.h"

namespace onestep::diffusion::detail {

// A stream of toy `name` (one of toy_dataset_names()); defined in toy.cpp.
std::unique_ptr<DataSource> make_toy_source(const std::string& spec, const std::string& name,
                                            const DataOptions& options);

// Throws unless `dir` holds the training split's IDX files (plain or gzipped): a folder without
// them is refused when the spec is checked, before a run creates anything.
void check_fashion_mnist_files(const std::string& dir);

}  // namespace onestep::diffusion::detail
