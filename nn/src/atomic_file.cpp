// Crash-safe whole-file writes (temp file + fsync + rename + directory fsync) and whole-file
// reads, with POSIX calls so that every failure can be reported with its errno.

#include "onestep/nn/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "onestep/engine/error.h"

namespace onestep::nn {

namespace {

// strerror is not thread-safe; the error category uses strerror_r.
std::string describe_errno(int err) {
  return std::generic_category().message(err);
}

std::string parent_directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A single write() call is capped by the kernel at about 2 GiB anyway.
constexpr size_t kMaxWriteChunk = size_t{1} << 30;

// Owns the temp file until commit(): on any failure the destructor closes and removes it, so
// neither a half-written temp file nor a descriptor outlives an exception.
class TempFile {
 public:
  explicit TempFile(const std::string& target)
      : target_(target), temp_(target + ".tmp." + std::to_string(::getpid())) {
    do {
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    } while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) {
      const int err = errno;
      ONESTEP_FAIL("cannot write '{}': cannot create temp file '{}': {}", target_, temp_,
                   describe_errno(err));
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  void write(const void* data, size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, std::min(size, kMaxWriteChunk));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("error writing temp file", errno);
      }
      // write() returning 0 for a nonzero request means no progress is possible (a full
      // device on some file systems); retrying would spin forever.
      if (n == 0) fail("error writing temp file", ENOSPC);
      p += n;
      size -= static_cast<size_t>(n);
      written_ += static_cast<size_t>(n);
    }
  }

  void commit() {
    int rc;
    do {
      rc = ::fsync(fd_);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) fail("cannot fsync temp file", errno);
    // close() can report write-back errors (NFS) that fsync missed; on Linux the descriptor is
    // released even when close fails, so it must not be closed twice.
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) fail("cannot close temp file", errno);
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      fail("cannot rename temp file over the target", errno);
    }
    committed_ = true;
    sync_directory();
  }

 private:
  [[noreturn]] void fail(const char* what, int err) const {
    ONESTEP_FAIL("cannot write '{}' ({} '{}' after {} bytes): {}", target_, what, temp_, written_,
                 describe_errno(err));
  }

  // Makes the rename itself durable. The new file is already in place, so the message says so.
  void sync_directory() const {
    const std::string dir = parent_directory(target_);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      ONESTEP_FAIL("wrote '{}' but cannot open its directory '{}' to fsync it: {}", target_, dir,
                   describe_errno(err));
    }
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    const int err = errno;
    ::close(fd);
    // EINVAL: this file system does not support syncing directories; nothing more can be done.
    if (rc != 0 && err != EINVAL) {
      ONESTEP_FAIL("wrote '{}' but cannot fsync its directory '{}': {}", target_, dir,
                   describe_errno(err));
    }
  }

  std::string target_;
  std::string temp_;
  int fd_ = -1;
  size_t written_ = 0;
  bool committed_ = false;
};

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(const WriteChunk& write)>& produce) {
  ONESTEP_CHECK(!path.empty(), "write_file_atomically: empty path");
  TempFile file(path);
  produce([&file](const void* data, size_t size) { file.write(data, size); });
  file.commit();
}

void write_file_atomically(const std::string& path, const void* data, size_t size) {
  write_file_atomically(path, [&](const WriteChunk& write) { write(data, size); });
}

std::vector<uint8_t> read_file(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    ONESTEP_FAIL("cannot read '{}': {}", path, describe_errno(err));
  }
  // Closes the descriptor on every path out, including exceptions.
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ONESTEP_FAIL("cannot read '{}': fstat failed: {}", path, describe_errno(err));
  }
  ONESTEP_CHECK(!S_ISDIR(st.st_mode), "cannot read '{}': it is a directory, not a file", path);

  // One spare byte lets a regular file's EOF be seen without growing the buffer; files whose size
  // is unknown (pipes, /proc) or that grow while being read take the doubling path.
  std::vector<uint8_t> out;
  out.resize(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 16);
  size_t used = 0;
  for (;;) {
    if (used == out.size()) out.resize(out.size() * 2);
    const ssize_t n = ::read(fd, out.data() + used, std::min(out.size() - used, kMaxWriteChunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ONESTEP_FAIL("cannot read '{}': read error after {} bytes: {}", path, used,
                   describe_errno(err));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  // No shrink_to_fit: it would copy the whole file to save one byte.
  out.resize(used);
  return out;
}

}  // namespace onestep::nn
