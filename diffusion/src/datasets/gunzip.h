#pragma once
// gzip decompression of a file held in memory (internal to onestep::diffusion).

#include <cstdint>
#include <string>
#include <vector>

namespace onestep::diffusion::detail {

// The decompressed contents of gzip (or zlib) data: every member of a multi-member gzip file in
// turn. Throws onestep::Error starting with `what` (e.g. "Fashion-MNIST file 'x.gz'") on
// corrupt, truncated or trailing data, and on output beyond `max_bytes` or beyond what deflate
// can produce from the input's size.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& what,
                            size_t max_bytes);

}  // namespace onestep::diffusion::detail
