// gzip decompression with zlib, bounded so that a damaged or hostile file cannot make it
// allocate more than its input can honestly expand to.

#include "gunzip.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "onestep/engine/error.h"

namespace onestep::diffusion::detail {

namespace {

// Deflate expands at most 1032:1 (a 258-byte match coded in 2 bits, RFC 1951), so no honest
// input inflates beyond this many times its size; the margin covers tiny inputs.
size_t deflate_expansion_bound(size_t compressed) {
  constexpr size_t kRatio = 1032;
  if (compressed > std::numeric_limits<size_t>::max() / kRatio - 1024)
    return std::numeric_limits<size_t>::max();
  return compressed * kRatio + 1024;
}

}  // namespace

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& what,
                            size_t max_bytes) {
  const size_t limit = std::min(max_bytes, deflate_expansion_bound(in.size()));
  std::vector<uint8_t> out;
  if (in.size() >= 4) {
    // The gzip trailer's ISIZE (size mod 2^32) is only a hint for the first allocation, and a
    // hint from the file itself: never trusted beyond what the input can expand to.
    const uint8_t* t = in.data() + in.size() - 4;
    const size_t hint =
        uint32_t{t[0]} | (uint32_t{t[1]} << 8) | (uint32_t{t[2]} << 16) | (uint32_t{t[3]} << 24);
    out.reserve(std::min({hint, limit, size_t{256} << 20}));
  }
  z_stream zs{};
  // 15 + 32: the largest window, gzip or zlib header detected automatically.
  ONESTEP_CHECK(inflateInit2(&zs, 15 + 32) == Z_OK, "{}: zlib inflateInit2 failed", what);
  size_t consumed = 0;
  std::string error;
  while (true) {
    const size_t remaining = in.size() - consumed;
    zs.next_in = const_cast<Bytef*>(in.data() + consumed);
    zs.avail_in = static_cast<uInt>(std::min<size_t>(remaining, std::numeric_limits<uInt>::max()));
    if (out.size() == out.capacity()) {
      // Grow by doubling, but never past the limit (+1 so that exceeding it is seen).
      out.reserve(std::min(std::max<size_t>(out.size() * 2, 1 << 20), limit + 1));
    }
    const size_t before = out.size();
    out.resize(out.capacity());
    zs.next_out = out.data() + before;
    zs.avail_out =
        static_cast<uInt>(std::min<size_t>(out.size() - before, std::numeric_limits<uInt>::max()));
    const uInt avail_in = zs.avail_in, avail_out = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    consumed += avail_in - zs.avail_in;
    out.resize(before + (avail_out - zs.avail_out));
    if (out.size() > limit) {
      error = fmt::format("decompresses to more than {} bytes", limit);
      break;
    }
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow; anything else after the end is damage.
      if (consumed == in.size()) break;
      if (in.size() - consumed >= 2 && in[consumed] == 0x1f && in[consumed + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      error = fmt::format("{} bytes of garbage after the end of the compressed data",
                          in.size() - consumed);
      break;
    }
    if (rc == Z_BUF_ERROR) {  // no progress possible: the input ran out
      error = "truncated gzip data (the compressed stream ends early)";
      break;
    }
    if (rc != Z_OK) {
      error = fmt::format("corrupt gzip data ({})", zs.msg ? zs.msg : zError(rc));
      break;
    }
  }
  inflateEnd(&zs);
  ONESTEP_CHECK(error.empty(), "{}: {}", what, error);
  return out;
}

}  // namespace onestep::diffusion::detail
