#pragma once
// Whole-file reads and crash-safe whole-file writes (checkpoints, configs).
//
// A write goes to `path + ".tmp.<pid>"` in the same directory, is fsync'ed, renamed over `path`,
// and the directory is fsync'ed, so a crash or a full disk leaves either the old file or the new
// one, never a torn mix. The temp name is predictable and follows symlinks, like most atomic
// writers: keep checkpoints in directories that only their owner can write.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace onestep::nn {

// Appends `size` bytes to the file being written; throws onestep::Error on failure.
using WriteChunk = std::function<void(const void* data, size_t size)>;

// Streams the file's contents through `produce`, which calls its argument once per chunk (so a
// large checkpoint need not be assembled in memory). Any failure, including an exception thrown
// by `produce`, removes the temp file, leaves an existing `path` untouched and propagates
// (I/O failures as onestep::Error naming the path and the system's reason).
void write_file_atomically(const std::string& path,
                           const std::function<void(const WriteChunk& write)>& produce);

// Writes `size` bytes at `data` as the whole new contents of `path`.
void write_file_atomically(const std::string& path, const void* data, size_t size);

// The whole contents of `path`; throws onestep::Error naming the path when it is missing, a
// directory or unreadable.
std::vector<uint8_t> read_file(const std::string& path);

}  // namespace onestep::nn
