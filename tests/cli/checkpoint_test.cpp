// Damaged native checkpoints (.mcm): bytes flipped inside a tensor, the graph text or the metadata,
// truncated files, wrong magic, an absurd length in the metadata. `compress inspect` / `eval` must
// stop with exit 2 naming the file and the damaged part, never load the damaged model. Also: a
// round trip stays exact and version-1 files (no checksums) still load.
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "frontend/frontend.h"
#include "support/test_env.h"

namespace mc {
namespace {

using test::run_compress;

std::string read_bytes(const std::string& path) { return read_file(path); }
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Offset of `needle` in `hay`, which must occur exactly once.
size_t find_once(const std::string& hay, const std::string& needle) {
  size_t p = hay.find(needle);
  EXPECT_NE(p, std::string::npos);
  EXPECT_EQ(hay.find(needle, p + 1), std::string::npos) << "needle occurs twice";
  return p;
}

ir::Model resnet8() {
  frontend::ZooOptions o;
  o.input_shape = {1, 1, 28, 28};
  o.seed = 3;
  return frontend::build_zoo("resnet8", o);
}

std::string tensor_bytes(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

struct Saved {
  test::TempDir dir;
  std::string path = dir.file("m.mcm");
  ir::Model model = resnet8();
  std::string bytes;
  Saved() {
    model.save(path);
    bytes = read_bytes(path);
  }
};

void expect_exit2(const std::string& args, const std::vector<std::string>& needles) {
  auto r = run_compress(args);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  for (auto& n : needles) EXPECT_NE(r.out.find(n), std::string::npos) << "'" << n << "' missing in:\n" << r.out;
  EXPECT_EQ(r.out.find("Exception raised from"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("top-1"), std::string::npos) << "a damaged model was evaluated:\n" << r.out;
}

TEST(Checkpoint, RoundTripIsExact) {
  Saved s;
  ir::Model back = ir::Model::load(s.path);
  EXPECT_EQ(back.graph.to_string(), s.model.graph.to_string());
  EXPECT_EQ(back.name, s.model.name);
  ASSERT_EQ(back.tensors.size(), s.model.tensors.size());
  for (auto& [k, t] : s.model.tensors) EXPECT_TRUE(back.tensors.at(k).equal(t)) << k;
}

TEST(Checkpoint, FlippedTensorBytesNameTheTensor) {
  Saved s;
  const std::string name = "layer2.0.conv1.weight";
  std::string w = tensor_bytes(s.model.tensors.at(name));
  size_t at = find_once(s.bytes, w.substr(0, 64)) + w.size() / 2;
  for (size_t i = 0; i < 3; ++i) s.bytes[at + i] ^= 0x5a;
  write_bytes(s.path, s.bytes);
  for (const char* cmd : {"inspect ", "eval --data fashion_mnist --limit 64 "})
    expect_exit2(cmd + s.path, {s.path, "tensor '" + name + "'", "damaged", "re-create it"});
}

TEST(Checkpoint, FlippedGraphTextNamesTheGraphSection) {
  Saved s;
  std::string text = s.model.graph.to_string();
  size_t at = find_once(s.bytes, text) + text.size() / 2;
  s.bytes[at] = s.bytes[at] == '1' ? '2' : '1';
  write_bytes(s.path, s.bytes);
  expect_exit2("inspect " + s.path, {s.path, "graph section", "damaged"});
}

TEST(Checkpoint, FlippedMetadataNamesTheMetadataSection) {
  Saved s;
  size_t at = find_once(s.bytes, "compress-model-v") + 3;
  s.bytes[at] ^= 0x20;
  write_bytes(s.path, s.bytes);
  expect_exit2("inspect " + s.path, {s.path, "metadata section", "damaged"});
}

// A pickled string's 4-byte length set to ~2 GiB: refused by the metadata check before LibTorch's
// unpickler would allocate that much.
TEST(Checkpoint, AbsurdLengthInMetadataIsRefusedWithoutAllocating) {
  Saved s;
  size_t at = find_once(s.bytes, "compress-model-v");
  ASSERT_GE(at, 4u);
  for (size_t i = 1; i <= 4; ++i) s.bytes[at - i] = i == 1 ? '\x7f' : '\xff';
  write_bytes(s.path, s.bytes);
  expect_exit2("inspect " + s.path, {s.path, "metadata section"});
}

TEST(Checkpoint, TruncatedFilesAreDamaged) {
  Saved s;
  for (size_t keep : {s.bytes.size() - 10, s.bytes.size() / 2, size_t{100}}) {
    write_bytes(s.path, s.bytes.substr(0, keep));
    expect_exit2("inspect " + s.path, {s.path, "damaged"});
  }
}

TEST(Checkpoint, WrongMagicAndEmptyFile) {
  test::TempDir d;
  std::string text = d.write("notes.mcm", "name: resnet8\nthis is not a checkpoint\n");
  expect_exit2("inspect " + text, {text, "not a compress checkpoint", "zip header"});
  std::string empty = d.write("empty.mcm", "");
  expect_exit2("inspect " + empty, {empty, "empty"});
  // A zip archive that is not ours (a TorchScript-style archive of another program).
  std::string other = d.file("other.mcm");
  torch::serialize::OutputArchive ar;
  ar.write("x", at::ones({3}), true);
  ar.save_to(other);
  expect_exit2("inspect " + other, {other, "not a compress checkpoint"});
}

// Version-1 files (before checksums) keep loading, unverified, with a warning.
TEST(Checkpoint, Version1FilesLoadWithoutVerification) {
  test::TempDir d;
  ir::Model m = resnet8();
  std::string path = d.file("v1.mcm");
  {  // the v1 layout: graph text as a pickled string, no checksums
    torch::serialize::OutputArchive ar;
    ar.write("format", c10::IValue(std::string("compress-model-v1")));
    ar.write("name", c10::IValue(m.name));
    ar.write("graph", c10::IValue(m.graph.to_string()));
    c10::List<std::string> names;
    for (auto& [k, t] : m.tensors) {
      ar.write("t/" + k, t.detach(), true);
      names.push_back(k);
    }
    ar.write("tensor_names", c10::IValue(names));
    ar.save_to(path);
  }
  ir::Model back = ir::Model::load(path);
  EXPECT_EQ(back.graph.to_string(), m.graph.to_string());
  for (auto& [k, t] : m.tensors) EXPECT_TRUE(back.tensors.at(k).equal(t)) << k;
  auto r = run_compress("inspect " + path);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("without checksums"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mc
