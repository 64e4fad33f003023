// A LibTorch error inside a stage reaches the user as one line naming the stage (index and name),
// the layer scope and op when a kernel threw, and the first line of the cause: no backtrace.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <sstream>

#include "data/npy.h"
#include "ir/model.h"
#include "support/test_env.h"

namespace mc {
namespace {

// The lines of `out` that start with "error:".
std::vector<std::string> error_lines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (l.rfind("error:", 0) == 0) lines.push_back(l);
  return lines;
}

void expect_one_line(const test::RunResult& r, int exit_code, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.exit_code, exit_code) << r.out;
  auto lines = error_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  for (auto& n : needles) EXPECT_NE(lines[0].find(n), std::string::npos) << "'" << n << "' missing in: " << lines[0];
  EXPECT_EQ(r.out.find("Exception raised from"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame #"), std::string::npos) << r.out;
}

// A classifier whose flatten is a reshape to a fixed batch of 1: it passes shape inference and
// verify() at batch 1, and its kernel throws on the first training batch of 64.
TEST(StageErrors, KernelErrorInsideAStageNamesStageScopeAndOp) {
  test::TempDir d;
  ir::Model m;
  m.graph = ir::Graph::parse(R"IR(
graph(%x: f32[1,1,28,28]) {
  %r = reshape[shape=[1,784]](%x) @flatten
  %w = param[name="fc.weight"]() @fc
  %b = param[name="fc.bias"]() @fc
  %y = linear(%r, %w, %b) @fc
  return(%y)
}
)IR");
  m.tensors["fc.weight"] = at::zeros({10, 784});
  m.tensors["fc.bias"] = at::zeros({10});
  m.infer_shapes();
  m.save(d.file("fixed.mcm"));
  std::string recipe = d.write("r.yaml", R"(name: fixed
model: {checkpoint: fixed.mcm}
data:
  train: {dataset: fashion_mnist, limit: 128, batch_size: 64}
report: {latency: false}
stages:
  - train: {epochs: 1}
)");
  auto r = test::run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  expect_one_line(r, 1, {"stage 1/1 'train'", "op 'reshape' at scope 'flatten'", "is invalid for input of size 50176"});
}

// Labels beyond the model's classes make cross-entropy (outside the executor) throw in LibTorch.
TEST(StageErrors, LibTorchErrorOutsideTheExecutorNamesTheStage) {
  test::TempDir d;
  data::write_npy(d.file("x.npy"), at::zeros({64, 1, 28, 28}));
  at::Tensor y = at::zeros({64}, at::kLong);
  y[5] = 12;
  data::write_npy(d.file("y.npy"), y);
  std::string recipe = d.write("r.yaml", R"(name: labels
model: {zoo: lenet5, num_classes: 10}
data:
  train: {dataset: npy, path: x.npy, labels: y.npy, batch_size: 64}
report: {latency: false}
stages:
  - optimize
  - train: {epochs: 1}
)");
  auto r = test::run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  expect_one_line(r, 1, {"stage 2/2 'train'", "Target 12 is out of bounds"});
}

}  // namespace
}  // namespace mc
