#include "ir/mcz/archive.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "ir/mcz/byte_io.h"
#include "ir/mcz/packable_weights.h"
#include "ir/model_io.h"

namespace mc::ir::mcz {

namespace {

const char kMagic[8] = {'\x89', 'M', 'C', 'Z', '\r', '\n', '\x1a', '\n'};
constexpr size_t kHeaderBytes = 20;
constexpr uint8_t kBase = 1, kWeight = 2;

uint32_t crc(const char* p, size_t n) { return static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(p), n)); }

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  throw InputError("archive '" + path + "' is damaged: " + what +
                   ". It changed after it was written (disk, copy or download error): re-create it (`compress pack "
                   "MODEL.mcm -o " + path + "` or the recipe's `save` stage) or load another model");
}

std::string section(uint8_t kind, const std::string& name, const std::string& payload) {
  ByteWriter w;
  w.u8(kind);
  w.u16(static_cast<uint16_t>(name.size()));
  w.bytes(name);
  w.blob(payload);
  w.u32(crc(w.str().data(), w.str().size()));
  return w.take();
}

void check_bits(int bits, const char* what) {
  if (bits < 1 || bits > 8)
    throw InputError(std::string(what) + " position bits " + std::to_string(bits) + " is outside 1..8 (Han et al. use 4 to 8)");
}

}  // namespace

PackResult save_mcz(const Model& m, const std::string& path, const PackOptions& o) {
  check_bits(o.conv_position_bits, "conv");
  check_bits(o.fc_position_bits, "fc");
  PackResult r;
  std::map<std::string, std::string> encoded;
  std::vector<std::string> order;
  for (const auto& pw : packable_weights(m)) {
    WeightStats st;
    st.layer = pw.layer;
    st.tensor = pw.tensor;
    auto payload = encode_weight(m.tensors.at(pw.tensor), pw.conv ? o.conv_position_bits : o.fc_position_bits, st);
    if (payload && pw.tensor.size() <= 0xffff) {
      encoded[pw.tensor] = section(kWeight, pw.tensor, *payload);
      st.bytes = encoded[pw.tensor].size();
      order.push_back(pw.tensor);
    } else {
      st.encoding = "dense";
    }
    r.layers.push_back(st);
  }
  std::string base = section(kBase, "base", model_io::mcm_bytes(m, [&](const std::string& n) { return !encoded.count(n); }));
  r.base_bytes = base.size();
  ByteWriter head;
  head.bytes(std::string(kMagic, sizeof kMagic));
  head.u32(kFormatVersion);
  head.u32(static_cast<uint32_t>(1 + order.size()));
  head.u32(crc(head.str().data(), head.str().size()));
  write_file_atomically(path, [&](std::ostream& os) {
    os << head.str() << base;
    for (const auto& n : order) os << encoded[n];
  });
  r.file_bytes = std::filesystem::file_size(path);
  for (const auto& [k, t] : m.tensors) r.fp32_bytes += 4 * static_cast<uint64_t>(t.numel());
  return r;
}

bool is_mcz_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char b[sizeof kMagic];
  return f.read(b, sizeof b) && std::memcmp(b, kMagic, sizeof b) == 0;
}

namespace {

struct Section {
  uint8_t kind = 0;
  std::string name, payload;
};

// Header checks: magic, header CRC, version. Returns the section count.
uint32_t read_header(const std::string& path, ByteReader& r) {
  if (r.left() < sizeof kMagic || std::memcmp(r.pos(), kMagic, sizeof kMagic) != 0)
    throw InputError("'" + path + "' is not a .mcz archive (it does not start with the .mcz magic); a .mcz is written by "
                     "`compress pack` or a `save: {path: X.mcz}` stage");
  if (r.left() < kHeaderBytes) damaged(path, "it is truncated inside its header");
  uint32_t stored, version, count;
  const char* start = r.pos();
  r.skip(sizeof kMagic);
  r.u32(version);
  r.u32(count);
  r.u32(stored);
  if (stored != crc(start, 16)) damaged(path, "its header fails its CRC-32");
  if (version > kFormatVersion)
    throw InputError("archive '" + path + "' has .mcz format version " + std::to_string(version) +
                     ", newer than this compress reads (version " + std::to_string(kFormatVersion) + "): upgrade compress");
  if (version == 0) damaged(path, "its header names format version 0");
  return count;
}

Section read_section(const std::string& path, ByteReader& r, uint32_t i) {
  Section s;
  const char* start = r.pos();
  uint16_t nlen;
  const std::string where = "section " + std::to_string(i + 1);
  if (!r.u8(s.kind) || !r.u16(nlen) || !r.bytes(nlen, s.name)) damaged(path, where + " is truncated (the file ends inside its header)");
  const std::string what = s.kind == kBase ? "the base section (graph, metadata, tensors kept as in .mcm)"
                                           : where + " (tensor '" + s.name + "')";
  uint64_t plen;
  uint32_t stored;
  if (!r.u64(plen) || plen > r.left() || !r.bytes(plen, s.payload) || !r.u32(stored))
    damaged(path, what + " is truncated (the file ends before its end)");
  if (crc(start, static_cast<size_t>(r.pos() - start) - 4) != stored) s.kind = 0;  // checked by the caller
  return s;
}

}  // namespace

Model load_mcz(const std::string& path) {
  const std::string bytes = read_file(path);
  ByteReader r(bytes);
  const uint32_t count = read_header(path, r);
  Model m;
  for (uint32_t i = 0; i < count; ++i) {
    Section s = read_section(path, r, i);
    if (i == 0) {
      // The embedded .mcm's own checks name its graph, metadata or tensor; the section CRC then
      // covers the rest (zip headers).
      m = model_io::read_mcm_bytes(s.payload, path);
      if (s.kind != kBase) damaged(path, "the base section (graph, metadata, tensors kept as in .mcm) fails its CRC-32");
      continue;
    }
    if (s.kind != kWeight) damaged(path, "section " + std::to_string(i + 1) + " (tensor '" + s.name + "') fails its CRC-32");
    if (m.tensors.count(s.name)) damaged(path, "tensor '" + s.name + "' is stored twice");
    at::Tensor t;
    std::string why;
    if (!decode_weight(s.payload, t, why)) damaged(path, "tensor '" + s.name + "': " + why);
    m.tensors[s.name] = t;
  }
  if (count == 0) damaged(path, "it has no base section");
  if (r.left() != 0) damaged(path, "it has " + std::to_string(r.left()) + " bytes after its last section");
  m.infer_shapes();
  m.verify();
  return m;
}

}  // namespace mc::ir::mcz
