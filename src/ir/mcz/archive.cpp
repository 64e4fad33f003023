#include "ir/mcz/archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "ir/mcz/base_dictionary.h"
#include "ir/mcz/byte_io.h"
#include "ir/mcz/packable_weights.h"
#include "ir/model_io.h"

namespace mc::ir::mcz {

namespace {

const char kMagic[8] = {'\x89', 'M', 'C', 'Z', '\r', '\n', '\x1a', '\n'};
constexpr size_t kHeaderBytes = 20;
constexpr uint8_t kBase = 1, kWeight = 2;
const std::string kBaseWhat = "the base section (graph text, metadata, and the tensors kept as in .mcm: biases, BatchNorm, weights not encoded)";

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

// u64 length, then the zlib stream (level 9, zlib's default window and memory level) with the
// preset dictionary (base_dictionary.h). The .mcm records are mostly text and zip headers.
std::string deflate(const std::string& raw) {
  if (raw.size() > UINT32_MAX) throw RuntimeFailure("the archive's base section is over 4 GiB (zlib's one-call limit)");
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw RuntimeFailure("zlib could not compress the archive's base section");
  const std::string& dict = base_dictionary();
  std::string out(deflateBound(&z, raw.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  const bool ok = deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dict.data()), static_cast<uInt>(dict.size())) ==
                      Z_OK &&
                  ::deflate(&z, Z_FINISH) == Z_STREAM_END;
  out.resize(z.total_out);
  deflateEnd(&z);
  if (!ok) throw RuntimeFailure("zlib could not compress the archive's base section");
  ByteWriter w;
  w.u64(raw.size());
  w.bytes(out);
  return w.take();
}

// The inverse; false when damaged. The length is checked against deflate's largest ratio
// (1032:1) before the output is allocated. A stream that asks for a dictionary gets the base
// dictionary (zlib refuses it unless its Adler-32 is the one the stream names); version 1
// archives' streams ask for none.
bool inflate(const std::string& payload, std::string& raw) {
  ByteReader r(payload);
  uint64_t n;
  if (!r.u64(n) || n > uint64_t{1032} * r.left() + 64 || n > UINT32_MAX || r.left() > UINT32_MAX) return false;
  std::string out(static_cast<size_t>(n), '\0');
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(r.pos()));
  z.avail_in = static_cast<uInt>(r.left());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(n);
  int rc = ::inflate(&z, Z_FINISH);
  if (rc == Z_NEED_DICT) {
    const std::string& dict = base_dictionary();
    rc = inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dict.data()), static_cast<uInt>(dict.size()));
    if (rc == Z_OK) rc = ::inflate(&z, Z_FINISH);
  }
  const bool ok = rc == Z_STREAM_END && z.total_out == n && z.avail_in == 0;
  inflateEnd(&z);
  if (!ok) return false;
  raw = std::move(out);
  return true;
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
    } else {  // not smaller than fp32, or a name too long for a section (kept in the base)
      st.encoding = "dense";
      st.bytes = 4 * static_cast<uint64_t>(st.weights);
    }
    r.layers.push_back(st);
  }
  std::string raw = model_io::mcm_bytes(m, [&](const std::string& n) { return !encoded.count(n); });
  std::string base = section(kBase, "base", deflate(raw));
  r.base_raw_bytes = raw.size();
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
  bool crc_ok = false;
  std::string name, payload;
};

// Header checks: magic, header CRC, version. Returns the section count.
uint32_t read_header(const std::string& path, ByteReader& r) {
  const size_t head = std::min(r.left(), sizeof kMagic);
  if (r.left() < sizeof kMagic && head > 0 && std::memcmp(r.pos(), kMagic, head) == 0)
    damaged(path, "it is truncated inside its header (" + std::to_string(r.left()) + " bytes)");
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
  const std::string what = i == 0 ? kBaseWhat : where + " (tensor '" + s.name + "')";
  uint64_t plen;
  uint32_t stored;
  if (!r.u64(plen) || plen > r.left() || !r.bytes(plen, s.payload) || !r.u32(stored))
    damaged(path, what + " is truncated (the file ends before its end)");
  s.crc_ok = crc(start, static_cast<size_t>(r.pos() - start) - 4) == stored;  // checked by the caller
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
      // The section CRC first (a damaged zlib stream cannot be told apart), then every check of a
      // .mcm file on the records inside: metadata, graph text, each tensor's CRC-32.
      std::string mcm;
      if (!s.crc_ok) damaged(path, kBaseWhat + " fails its CRC-32");
      if (s.kind != kBase) damaged(path, "its first section is not the base section");
      if (!inflate(s.payload, mcm)) damaged(path, kBaseWhat + " cannot be inflated");
      m = model_io::read_mcm_bytes(mcm, path);
      continue;
    }
    const std::string where = "section " + std::to_string(i + 1) + " (tensor '" + s.name + "')";
    if (!s.crc_ok) damaged(path, where + " fails its CRC-32");
    if (s.kind != kWeight) damaged(path, where + " is not a weight section");
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
