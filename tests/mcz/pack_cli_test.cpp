// `compress pack` / `unpack` and every way a .mcz is read: inspect, run, eval, export, a recipe's
// `model: {checkpoint: x.mcz}`, and the `save: {path: x.mcz}` stage with its report details.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "data/npy.h"
#include "ir/model.h"
#include "mcz/compressed_model.h"
#include "support/test_env.h"

namespace fs = std::filesystem;

namespace mc {
namespace {

using test::run_compress;

struct Packed {
  test::TempDir dir;
  std::string mcm = dir.file("m.mcm"), mcz = dir.file("m.mcz");
  test::RunResult pack;
  Packed() {
    test::compressed_zoo("resnet8", 0.9, 16).save(mcm);
    pack = run_compress("pack " + mcm + " -o " + mcz);
  }
};

TEST(MczCli, PackPrintsPerLayerTableAndTheTrueFileSize) {
  Packed p;
  ASSERT_EQ(p.pack.exit_code, 0) << p.pack.out;
  std::printf("%s", p.pack.out.c_str());
  for (const char* col : {"layer", "weights", "non-zeros", "distinct", "index", "position", "codebook", "huffman", "bytes",
                          "ratio", "layer2.0.conv1", "codebook", "fc"})
    EXPECT_NE(p.pack.out.find(col), std::string::npos) << col << "\n" << p.pack.out;
  EXPECT_NE(p.pack.out.find(p.mcz + ": " + std::to_string(fs::file_size(p.mcz)) + " bytes on disk"), std::string::npos)
      << p.pack.out;
  EXPECT_LT(fs::file_size(p.mcz) * 5, fs::file_size(p.mcm));
}

TEST(MczCli, UnpackGivesTheSameWeightsAndOutputs) {
  Packed p;
  ASSERT_EQ(p.pack.exit_code, 0) << p.pack.out;
  std::string back = p.dir.file("back.mcm");
  auto u = run_compress("unpack " + p.mcz + " -o " + back);
  ASSERT_EQ(u.exit_code, 0) << u.out;
  ir::Model a = ir::Model::load(p.mcm), b = ir::Model::load(back);
  EXPECT_EQ(a.graph.to_string(), b.graph.to_string());
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (auto& [k, t] : a.tensors) EXPECT_TRUE(test::bit_identical(t, b.tensors.at(k))) << k;
  data::write_npy(p.dir.file("x.npy"), at::randn({4, 1, 28, 28}));
  std::vector<std::string> outs;
  for (const std::string& m : {p.mcm, p.mcz, back}) {
    std::string y = p.dir.file("y" + std::to_string(outs.size()) + ".npy");
    auto r = run_compress("run " + m + " --input " + p.dir.file("x.npy") + " --output " + y);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    outs.push_back(read_file(y));
  }
  EXPECT_EQ(outs[0], outs[1]);
  EXPECT_EQ(outs[0], outs[2]);
}

TEST(MczCli, InspectEvalAndExportReadMcz) {
  Packed p;
  ASSERT_EQ(p.pack.exit_code, 0) << p.pack.out;
  auto i1 = run_compress("inspect " + p.mcm), i2 = run_compress("inspect " + p.mcz);
  ASSERT_EQ(i2.exit_code, 0) << i2.out;
  auto body = [](const std::string& s) { return s.substr(s.find('\n')); };  // the first line names the file
  EXPECT_EQ(body(i1.out), body(i2.out));
  auto e1 = run_compress("eval " + p.mcm + " --data fashion_mnist --limit 200 --transform none");
  auto e2 = run_compress("eval " + p.mcz + " --data fashion_mnist --limit 200 --transform none");
  ASSERT_EQ(e2.exit_code, 0) << e2.out;
  auto top1 = [](const std::string& s) { return s.substr(s.find("top-1"), 40); };
  EXPECT_EQ(top1(e1.out), top1(e2.out));
  auto x = run_compress("export " + p.mcz + " --onnx " + p.dir.file("m.onnx"));
  EXPECT_EQ(x.exit_code, 0) << x.out;
  EXPECT_TRUE(fs::exists(p.dir.file("m.onnx")));
}

TEST(MczCli, RecipeLoadsMczAndSaveStageWritesOneWithItsSize) {
  Packed p;
  ASSERT_EQ(p.pack.exit_code, 0) << p.pack.out;
  std::string recipe = p.dir.write("r.yaml", R"(name: mcz
seed: 1
model: {checkpoint: )" + p.mcz + R"(}
data:
  val: {dataset: fashion_mnist, limit: 200, batch_size: 100, transform: fmnist_eval}
stages:
  - evaluate: {}
  - save: {path: out.mcz}
report: {latency: false}
)");
  std::string out = p.dir.file("run");
  auto r = run_compress("--recipe " + recipe + " --out " + out + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = test::read_json(out + "/report.json");
  const auto& st = rep["stages"][2];
  ASSERT_EQ(st["stage"], "save");
  const auto& a = st["details"]["archive"];
  EXPECT_EQ(a["file_bytes"].get<uint64_t>(), fs::file_size(out + "/out.mcz"));
  EXPECT_GT(a["ratio"].get<double>(), 5.0);
  EXPECT_EQ(a["layers"].size(), 10u);  // resnet8: 9 convs (2 of them projections) and fc
  ir::Model saved = ir::Model::load(out + "/out.mcz"), orig = ir::Model::load(p.mcm);
  EXPECT_FALSE(saved.preprocessing.empty());
  for (auto& [k, t] : orig.tensors) EXPECT_TRUE(test::bit_identical(t, saved.tensors.at(k))) << k;
}

TEST(MczCli, BadArgumentsAreExit2) {
  Packed p;
  auto r = run_compress("pack " + p.mcm + " -o " + p.dir.file("x.mcm"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("must end in .mcz"), std::string::npos) << r.out;
  r = run_compress("pack " + p.mcm + " -o " + p.dir.file("y.mcz") + " --conv-position-bits 9");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("outside 1..8"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(p.dir.file("y.mcz")));
  r = run_compress("unpack " + p.mcm + " -o " + p.dir.file("z.mcm"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("not a .mcz archive"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mc
