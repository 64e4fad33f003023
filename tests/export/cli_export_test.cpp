// `compress export`: zoo and TorchScript models to ONNX, checked in ONNX Runtime against
// `compress run` / TorchScript; bad options exit 2 and leave no file.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/npy.h"
#include "export_test_util.h"

namespace mc {
namespace {

namespace fs = std::filesystem;

// `compress export` must exist: these tests fail (never skip) when the binary or command is missing.
::testing::AssertionResult export_command() {
  if (!fs::exists(test::compress_bin()))
    return ::testing::AssertionFailure() << test::compress_bin() << " does not exist: build it (cmake --build build --target compress)";
  test::RunResult r = test::run_compress("export --help");
  if (r.exit_code != 0 || r.out.find("--onnx") == std::string::npos)
    return ::testing::AssertionFailure() << "`compress export --help` failed (exit " << r.exit_code
                                         << "): the export command is not registered in src/cli/commands.cpp\n" << r.out;
  return ::testing::AssertionSuccess();
}

TEST(CliExport, ZooModelMatchesCompressRun) {
  ASSERT_TRUE(export_command());
  test::TempDir dir;
  const std::string onnx = dir.file("resnet8.onnx");
  test::RunResult r = test::run_compress("export zoo:resnet8 --input-shape 1,3,32,32 --opset 14 --onnx " + onnx +
                                         " --metadata owner=tests");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(fs::exists(onnx));
  onnx::ModelProto mp = test::load_onnx(onnx);
  EXPECT_EQ(mp.producer_name(), "compress");
  EXPECT_FALSE(mp.producer_version().empty());
  EXPECT_EQ(mp.opset_import(0).version(), 14);
  bool owner = false;
  for (auto& p : mp.metadata_props()) owner = owner || (p.key() == "owner" && p.value() == "tests");
  EXPECT_TRUE(owner);

  at::Tensor x = at::empty({3, 3, 32, 32}).normal_(0, 1, test::export_gen(3));
  data::write_npy(dir.file("x.npy"), x);
  r = test::run_compress("run zoo:resnet8 --input-shape 1,3,32,32 --input " + dir.file("x.npy") + " --output " + dir.file("y.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(test::close_to(data::read_npy(dir.file("y.npy")), test::run_ort(onnx, x)));
}

// By default the clean-up passes run first (batch norm folded into the convs); --no-optimize
// exports the graph as built.
TEST(CliExport, NoOptimizeKeepsBatchNorm) {
  ASSERT_TRUE(export_command());
  test::TempDir dir;
  auto count = [](const std::string& path, const std::string& op) {
    int k = 0;
    onnx::ModelProto mp = test::load_onnx(path);
    for (auto& n : mp.graph().node()) k += n.op_type() == op;
    return k;
  };
  const std::string opt = dir.file("opt.onnx"), raw = dir.file("raw.onnx");
  test::RunResult r = test::run_compress("export zoo:resnet8 --input-shape 1,3,32,32 --onnx " + opt);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = test::run_compress("export zoo:resnet8 --input-shape 1,3,32,32 --no-optimize --onnx " + raw);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(count(opt, "BatchNormalization"), 0);
  EXPECT_GT(count(raw, "BatchNormalization"), 0);
  at::Tensor x = at::empty({2, 3, 32, 32}).normal_(0, 1, test::export_gen(4));
  EXPECT_TRUE(test::close_to(test::run_ort(raw, x), test::run_ort(opt, x)));
}

TEST(CliExport, TorchScriptFixture) {
  ASSERT_TRUE(export_command());
  const std::string base = test::fixture_dir() + "/small_cnn";
  ASSERT_TRUE(fs::exists(base + ".traced.pt")) << "run the fixtures.torchvision test first";
  at::Tensor x = data::read_npy(base + ".input.npy");
  std::string shape;
  for (int64_t d : x.sizes()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  test::TempDir dir;
  for (const char* kind : {"traced", "scripted"}) {
    const std::string onnx = dir.file(std::string(kind) + ".onnx");
    test::RunResult r = test::run_compress("export " + base + "." + kind + ".pt --input-shape " + shape + " --onnx " + onnx);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_TRUE(test::close_to(data::read_npy(base + ".output.npy"), test::run_ort(onnx, x))) << kind;
  }
}

TEST(CliExport, BadOpsetExits2AndWritesNothing) {
  ASSERT_TRUE(export_command());
  test::TempDir dir;
  const std::string onnx = dir.file("m.onnx");
  test::RunResult r = test::run_compress("export zoo:lenet5 --opset 12 --onnx " + onnx);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("unsupported opset 12: choose 13..21"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(onnx));
}

TEST(CliExport, UnwritableDirectoryExits2) {
  ASSERT_TRUE(export_command());
  test::TempDir dir;
  const std::string onnx = dir.file("missing/m.onnx");
  test::RunResult r = test::run_compress("export zoo:lenet5 --onnx " + onnx);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(onnx), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(onnx));
}

}  // namespace
}  // namespace mc
