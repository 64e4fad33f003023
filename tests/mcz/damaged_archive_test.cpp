// Damaged .mcz archives: every single flipped byte and every truncation is refused with an
// InputError (never a crash, never a different model), in process; through the `compress` binary
// each kind of damage is exit code 2 with a message naming the file and the damaged part.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "ir/mcz/archive.h"
#include "ir/mcz/base_dictionary.h"
#include "mcz/compressed_model.h"
#include "support/test_env.h"

namespace mc {
namespace {

using test::run_compress;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct Packed {
  test::TempDir dir;
  std::string path = dir.file("m.mcz");
  ir::Model model = test::compressed_zoo("resnet8", 0.9, 16);
  std::string bytes;
  Packed() {
    ir::mcz::save_mcz(model, path);
    bytes = read_file(path);
  }
};

void expect_exit2(const std::string& args, const std::vector<std::string>& needles) {
  auto r = run_compress(args);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  for (auto& n : needles) EXPECT_NE(r.out.find(n), std::string::npos) << "'" << n << "' missing in:\n" << r.out;
  EXPECT_EQ(r.out.find("Exception raised from"), std::string::npos) << r.out;
}

TEST(MczDamage, EveryFlippedByteIsRefused) {
  Packed p;
  const std::string damaged = p.dir.file("d.mcz");
  size_t refused = 0, tried = 0;
  for (size_t at = 0; at < p.bytes.size(); at += 13, ++tried) {
    std::string b = p.bytes;
    b[at] = static_cast<char>(b[at] ^ 0x10);
    write_bytes(damaged, b);
    try {
      ir::Model m = ir::Model::load(damaged);
      ADD_FAILURE() << "a flip at byte " << at << " of " << p.bytes.size() << " loaded";
    } catch (const InputError& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find(damaged), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(refused, tried);
}

TEST(MczDamage, EveryTruncationIsRefused) {
  Packed p;
  const std::string damaged = p.dir.file("d.mcz");
  for (size_t keep = 0; keep < p.bytes.size(); keep += 29) {
    write_bytes(damaged, p.bytes.substr(0, keep));
    EXPECT_THROW(ir::Model::load(damaged), InputError) << keep;
  }
  write_bytes(damaged, p.bytes + "x");
  EXPECT_THROW(ir::Model::load(damaged), InputError);
}

TEST(MczDamage, TruncatedFileIsExit2) {
  Packed p;
  for (size_t keep : {p.bytes.size() - 3, p.bytes.size() / 2, size_t{30}, size_t{5}}) {
    write_bytes(p.path, p.bytes.substr(0, keep));
    expect_exit2("inspect " + p.path, {p.path, "damaged", "truncated", "re-create it"});
  }
}

TEST(MczDamage, WrongMagicIsExit2) {
  Packed p;
  p.bytes[1] = 'X';
  write_bytes(p.path, p.bytes);
  expect_exit2("inspect " + p.path, {p.path, "not a .mcz archive"});
}

// A header naming version 3 with a valid header CRC: a file from a newer compress.
TEST(MczDamage, NewerVersionAsksForAnUpgrade) {
  Packed p;
  p.bytes[8] = 3;
  uint32_t crc = static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(p.bytes.data()), 16));
  for (int i = 0; i < 4; ++i) p.bytes[16 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  write_bytes(p.path, p.bytes);
  expect_exit2("inspect " + p.path, {p.path, "format version 3", "version 2", "upgrade compress"});
  p.bytes[8] = 4;  // the same header with a stale CRC: damaged, not "newer"
  write_bytes(p.path, p.bytes);
  expect_exit2("inspect " + p.path, {p.path, "header fails its CRC-32"});
}

size_t find_last(const std::string& hay, const std::string& needle) {
  size_t at = hay.rfind(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  return at;
}

TEST(MczDamage, FlippedWeightSectionNamesTheTensor) {
  Packed p;
  const std::string name = "layer2.0.conv1.weight";
  size_t at = find_last(p.bytes, name) + name.size() + 8 + 40;  // inside its payload
  p.bytes[at] ^= 0x01;
  write_bytes(p.path, p.bytes);
  for (const char* cmd : {"inspect ", "eval --data fashion_mnist --limit 64 "})
    expect_exit2(cmd + p.path, {p.path, "tensor '" + name + "'", "fails its CRC-32", "damaged"});
}

TEST(MczDamage, FlippedBaseSectionNamesIt) {
  Packed p;
  p.bytes[20 + 35 + 100] ^= 0x08;  // inside the deflated .mcm records
  write_bytes(p.path, p.bytes);
  expect_exit2("inspect " + p.path, {p.path, "the base section (graph text, metadata", "fails its CRC-32", "damaged"});
}

// The base section's layout: header (20 bytes), u8 kind, u16 4, "base", u64 length, then the
// payload (u64 raw length + zlib stream) and the section's CRC-32.
struct BaseSection {
  std::string head, mcm, tail;
  explicit BaseSection(const std::string& file) {
    const size_t at = 20 + 1 + 2 + 4;
    uint64_t len = 0, raw = 0;
    std::memcpy(&len, file.data() + at, 8);
    std::memcpy(&raw, file.data() + at + 8, 8);
    head = file.substr(0, 20);
    mcm.resize(raw);
    z_stream z{};
    EXPECT_EQ(inflateInit(&z), Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(file.data() + at + 16));
    z.avail_in = static_cast<uInt>(len - 8);
    z.next_out = reinterpret_cast<Bytef*>(&mcm[0]);
    z.avail_out = static_cast<uInt>(raw);
    EXPECT_EQ(inflate(&z, Z_FINISH), Z_NEED_DICT);  // version 2: the preset dictionary
    const std::string& dict = ir::mcz::base_dictionary();
    EXPECT_EQ(z.adler, adler32(1, reinterpret_cast<const Bytef*>(dict.data()), static_cast<uInt>(dict.size())));
    EXPECT_EQ(inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dict.data()), static_cast<uInt>(dict.size())), Z_OK);
    EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
    EXPECT_EQ(z.total_out, raw);
    inflateEnd(&z);
    tail = file.substr(at + 8 + len + 4);
  }
  // The file with `mcm` deflated again (without the dictionary, as format version 1 wrote it) and
  // a valid section CRC: what a writer bug would produce.
  std::string rebuild() const {
    uLongf n = compressBound(mcm.size());
    std::string z(n, '\0');
    compress2(reinterpret_cast<Bytef*>(&z[0]), &n, reinterpret_cast<const Bytef*>(mcm.data()), mcm.size(), 9);
    z.resize(n);
    std::string payload(8, '\0');
    uint64_t raw = mcm.size();
    std::memcpy(&payload[0], &raw, 8);
    payload += z;
    std::string sec = std::string("\x01\x04\x00", 3) + "base" + std::string(8, '\0') + payload;
    uint64_t len = payload.size();
    std::memcpy(&sec[7], &len, 8);
    uint32_t crc = static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(sec.data()), sec.size()));
    sec.append(reinterpret_cast<const char*>(&crc), 4);  // little-endian host
    return head + sec + tail;
  }
};

// A version 1 archive (the base deflated without the preset dictionary) still reads, to the same
// tensors bit for bit.
TEST(MczDamage, Version1ArchiveStillReads) {
  Packed p;
  std::string v1 = BaseSection(p.bytes).rebuild();
  v1[8] = 1;
  uint32_t crc = static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(v1.data()), 16));
  for (int i = 0; i < 4; ++i) v1[16 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  write_bytes(p.path, v1);
  ir::Model back = ir::mcz::load_mcz(p.path);
  ASSERT_EQ(back.tensors.size(), p.model.tensors.size());
  for (const auto& [name, t] : p.model.tensors) EXPECT_TRUE(test::bit_identical(back.tensors.at(name), t)) << name;
  EXPECT_GT(v1.size(), p.bytes.size());  // the dictionary saves bytes on the base section
}

// Inside the base section every check of a .mcm file still runs: damage that passes the section's
// CRC (a re-deflated, re-summed section) is caught by the graph's, metadata's or tensor's own.
TEST(MczDamage, RecordsInsideTheBaseSectionKeepTheirOwnChecks) {
  Packed p;
  {
    BaseSection b(p.bytes);
    write_bytes(p.path, b.rebuild());
    EXPECT_EQ(run_compress("inspect " + p.path).exit_code, 0);  // the rebuild alone is sound
  }
  std::string text = p.model.graph.to_string();
  BaseSection g(p.bytes);
  size_t at = g.mcm.find(text) + text.size() / 2;
  g.mcm[at] = g.mcm[at] == '1' ? '2' : '1';
  write_bytes(p.path, g.rebuild());
  expect_exit2("inspect " + p.path, {p.path, "graph section", "damaged"});
  BaseSection meta(p.bytes);
  meta.mcm[meta.mcm.find("compress-model-v") + 3] ^= 0x20;
  write_bytes(p.path, meta.rebuild());
  expect_exit2("inspect " + p.path, {p.path, "metadata section", "damaged"});
  BaseSection t(p.bytes);
  at::Tensor bias = p.model.tensors.at("fc.bias").contiguous();
  t.mcm[t.mcm.find(std::string(static_cast<const char*>(bias.data_ptr()), bias.nbytes())) + 5] ^= 0x40;
  write_bytes(p.path, t.rebuild());
  expect_exit2("inspect " + p.path, {p.path, "tensor 'fc.bias'", "damaged"});
}

}  // namespace
}  // namespace mc
