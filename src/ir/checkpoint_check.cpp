#include "ir/checkpoint_check.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/error.h"

namespace mc::ir::checkpoint {

namespace {

uint32_t crc_bytes(uint32_t crc, const void* data, size_t n) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), n));
}

uint32_t le(const char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Reads `n` bytes at `offset`; false when the file is shorter.
bool read_at(std::istream& f, uint64_t offset, size_t n, std::vector<char>& out) {
  out.resize(n);
  f.clear();
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(out.data(), static_cast<std::streamsize>(n));
  return static_cast<size_t>(f.gcount()) == n;
}

struct ZipEntry {
  uint32_t crc = 0, size = 0, local_offset = 0;
  bool found = false;
};

// Finds the central directory entry whose name ends with "/data.pkl".
ZipEntry find_metadata_entry(const std::string& path, std::istream& f, uint64_t file_size) {
  constexpr size_t kEocd = 22;
  size_t tail = static_cast<size_t>(std::min<uint64_t>(file_size, kEocd + 65535));
  std::vector<char> buf;
  if (!read_at(f, file_size - tail, tail, buf)) fail_damaged(path, "it cannot be read to its end");
  size_t eocd = std::string::npos;
  for (size_t i = tail >= kEocd ? tail - kEocd + 1 : 0; i-- > 0;)
    if (le(&buf[i], 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos)
    fail_damaged(path, "the zip directory at its end is missing (the file is truncated or was overwritten)");
  uint32_t cd_size = le(&buf[eocd + 12], 4), cd_offset = le(&buf[eocd + 16], 4);
  ZipEntry e;
  if (cd_size == 0xffffffffu || cd_offset == 0xffffffffu) return e;  // zip64 (> 4 GiB): not checked here
  if (uint64_t{cd_offset} + cd_size > file_size - tail + eocd)
    fail_damaged(path, "its zip directory points outside the file (the file is truncated)");
  std::vector<char> cd;
  if (!read_at(f, cd_offset, cd_size, cd)) fail_damaged(path, "its zip directory cannot be read");
  const std::string want = "/data.pkl";
  for (size_t p = 0; p + 46 <= cd.size();) {
    if (le(&cd[p], 4) != 0x02014b50) fail_damaged(path, "its zip directory is corrupt");
    size_t nlen = le(&cd[p + 28], 2), xlen = le(&cd[p + 30], 2), clen = le(&cd[p + 32], 2);
    if (p + 46 + nlen > cd.size()) fail_damaged(path, "its zip directory is corrupt");
    std::string name(&cd[p + 46], nlen);
    if (name.size() >= want.size() && name.compare(name.size() - want.size(), want.size(), want) == 0) {
      e = {le(&cd[p + 16], 4), le(&cd[p + 20], 4), le(&cd[p + 42], 4), true};
      if (le(&cd[p + 10], 2) != 0 || le(&cd[p + 24], 4) != e.size)
        fail_damaged(path, "its metadata record is compressed or corrupt (compress writes it stored)");
      return e;
    }
    p += 46 + nlen + xlen + clen;
  }
  return e;
}

}  // namespace

uint32_t text_crc32(const std::string& s) { return crc_bytes(0, s.data(), s.size()); }

uint32_t tensor_crc32(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU).contiguous();
  std::string head = std::string(c10::toString(c.scalar_type())) + ":";
  for (int64_t d : c.sizes()) head += std::to_string(d) + ",";
  uint32_t crc = crc_bytes(0, head.data(), head.size());
  return crc_bytes(crc, c.data_ptr(), c.nbytes());
}

void check_archive(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw InputError("cannot open model file '" + path + "' for reading");
  uint64_t size = static_cast<uint64_t>(f.tellg());
  if (size == 0) throw InputError("model file '" + path + "' is empty: re-create it or use another checkpoint");
  check_archive_stream(f, size, path);
}

void check_archive_bytes(const std::string& bytes, const std::string& path) {
  std::istringstream f(bytes);
  if (bytes.empty()) fail_damaged(path, "its embedded checkpoint is empty");
  check_archive_stream(f, bytes.size(), path);
}

void check_archive_stream(std::istream& f, uint64_t size, const std::string& path) {
  std::vector<char> magic;
  if (!read_at(f, 0, std::min<uint64_t>(size, 4), magic) || size < 4 || std::memcmp(magic.data(), "PK\x03\x04", 4) != 0)
    throw InputError("'" + path + "' is not a compress checkpoint (a .mcm file is a zip archive written by a `save` "
                     "stage or a run's ckpt/; this file does not start with a zip header)");
  ZipEntry e = find_metadata_entry(path, f, size);
  if (!e.found) fail_damaged(path, "its zip directory has no metadata record (data.pkl)");
  std::vector<char> local;
  if (!read_at(f, e.local_offset, 30, local) || le(local.data(), 4) != 0x04034b50)
    fail_damaged(path, "the metadata record's header is corrupt");
  uint64_t data = uint64_t{e.local_offset} + 30 + le(&local[26], 2) + le(&local[28], 2);
  if (data + e.size > size) fail_damaged(path, "the metadata record ends past the end of the file (truncated)");
  std::vector<char> bytes;
  if (!read_at(f, data, e.size, bytes) || crc_bytes(0, bytes.data(), bytes.size()) != e.crc)
    fail_damaged(path, "the metadata section (model name, tensor list, checksums) fails its CRC-32");
}

void fail_damaged(const std::string& path, const std::string& what) {
  throw InputError("checkpoint '" + path + "' is damaged: " + what +
                   ". It changed after it was written (disk, copy or download error): re-create it (re-run the "
                   "recipe or its `save` stage) or load another checkpoint");
}

}  // namespace mc::ir::checkpoint
