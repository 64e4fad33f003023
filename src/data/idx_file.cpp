#include "data/idx_file.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <limits>

#include "common/error.h"

namespace mc::data {
namespace {

const char* kHint = " (the file is damaged or incomplete: download it again)";

// RAII wrapper over zlib's gz file API, which reads gzip and plain files alike.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw InputError("cannot open idx file " + path + " (check that it exists and is readable)");
    gzbuffer(file_, 1 << 20);
  }
  ~GzReader() {
    if (file_) gzclose_r(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; returns how many were read (fewer only at end of data).
  size_t read(void* dst, size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    size_t done = 0;
    while (done < n) {
      const auto chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) {
        int err = 0;
        const char* msg = gzerror(file_, &err);
        throw InputError("idx file " + path_ + " cannot be decompressed: " + (msg ? msg : "zlib error") + kHint);
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

  // Throws when the gzip stream ended in the middle (truncated .gz file).
  void close() {
    const int rc = gzclose_r(file_);
    file_ = nullptr;
    if (rc != Z_OK) throw InputError("idx file " + path_ + " is a truncated or corrupt gzip file" + kHint);
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

}  // namespace

at::Tensor read_idx(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw InputError("idx file " + path + " not found (check the dataset path)");
  }
  GzReader in(path);
  unsigned char magic[4] = {0, 0, 0, 0};
  const size_t got_magic = in.read(magic, 4);
  if (got_magic < 4 || magic[0] != 0 || magic[1] != 0 || magic[3] < 1 || magic[3] > 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "0x%02x%02x%02x%02x", magic[0], magic[1], magic[2], magic[3]);
    throw InputError("idx file " + path + " has a bad magic number " + buf +
                     " (expected 0x000008NN: is this really an idx file such as train-images-idx3-ubyte?)");
  }
  if (magic[2] != 0x08) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%02x", magic[2]);
    throw InputError("idx file " + path + " has element type " + buf +
                     ", only unsigned bytes (0x08) are supported (use the ubyte files of the dataset)");
  }
  const int ndim = magic[3];
  std::vector<int64_t> dims(static_cast<size_t>(ndim));
  int64_t numel = 1;
  for (int d = 0; d < ndim; ++d) {
    unsigned char b[4];
    if (in.read(b, 4) < 4) throw InputError("idx file " + path + " is truncated inside its header" + kHint);
    const int64_t v = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    dims[static_cast<size_t>(d)] = v;
    if (v > 0 && numel > std::numeric_limits<int64_t>::max() / v) {
      throw InputError("idx file " + path + " has an impossible size in its header" + kHint);
    }
    numel *= v;
  }
  at::Tensor t = at::empty(dims, at::kByte);
  const size_t got = in.read(t.data_ptr<uint8_t>(), static_cast<size_t>(numel));
  if (got < static_cast<size_t>(numel)) {
    throw InputError("idx file " + path + " is truncated: header promises " + std::to_string(numel) +
                     " bytes of data, found " + std::to_string(got) + kHint);
  }
  unsigned char extra = 0;
  if (in.read(&extra, 1) != 0) {
    throw InputError("idx file " + path + " has data beyond the size its header declares" + kHint);
  }
  in.close();
  return t;
}

}  // namespace mc::data
