// Aliasing and in-place ops in the TorchScript importer, against PyTorch itself:
// tests/frontend/aliasing_cases.py, run by /usr/bin/python3 at test time, writes small programs
// (clone, views of every kind, in-place ops on bases and on views, copy_ into a slice, in-place
// view ops, a residual block with ReLU(inplace=True) and `out += identity`, roll and strided
// slices, a parameter gathered with a constant index and a mask built by slice assignment on
// new_zeros as Swin Transformer does), each traced and
// scripted, with its input and the eager module's output (.npy). Each file is imported, run by our
// executor and compared with PyTorch's output. The programs the importer must refuse go through
// `compress run`: exit code 2, a message naming the op, scope and source line, no output file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "data/npy.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc {
namespace {

/// The case files, made once per process. A failed script (no torch in /usr/bin/python3) fails
/// every test that needs it.
struct Cases {
  test::TempDir dir;
  test::RunResult gen;
  std::map<std::string, bool> accept;  // case name -> the importer must accept it (cases.txt)
};
const Cases& cases() {
  static const Cases* c = [] {
    auto* r = new Cases;
    r->gen = test::run_command("/usr/bin/python3 " + test::source_dir() + "/tests/frontend/aliasing_cases.py " +
                               r->dir.path());
    std::ifstream f(r->dir.file("cases.txt"));
    std::string name, kind;
    while (f >> name >> kind) r->accept[name] = kind == "accept";
    return r;
  }();
  return *c;
}

const std::vector<std::string> kAccepted = {
    "clone_then_inplace_on_source", "inplace_on_clone", "view_then_inplace_on_base",
    "inplace_on_view_reaches_base", "chained_views", "transpose_view_inplace",
    "reshape_copies_where_it_cannot_view", "contiguous_aliases_only_when_contiguous", "ops_on_aliases",
    "split_parts_are_views", "copy_into_view", "detach_aliases_and_inplace_dropout",
    "inplace_view_op_changes_the_tensor", "constant_changed_after_use", "residual_block",
    "roll_and_strided_slices", "constant_index_and_mask"};

TEST(TorchScriptAlias, CaseListMatchesTheScript) {
  const Cases& c = cases();
  ASSERT_EQ(c.gen.exit_code, 0) << c.gen.out;
  size_t accepted = 0;
  for (auto& [name, ok] : c.accept) accepted += ok;
  EXPECT_EQ(accepted, kAccepted.size());
  for (const auto& name : kAccepted) EXPECT_TRUE(c.accept.count(name) && c.accept.at(name)) << name;
}

class AcceptedProgram : public ::testing::TestWithParam<std::string> {};

TEST_P(AcceptedProgram, TracedAndScriptedMatchPyTorch) {
  const Cases& c = cases();
  ASSERT_EQ(c.gen.exit_code, 0) << c.gen.out;
  const std::string& name = GetParam();
  at::Tensor x = data::read_npy(c.dir.file(name + ".input.npy"));
  at::Tensor expected = data::read_npy(c.dir.file(name + ".expected.npy"));
  for (const char* mode : {"traced", "scripted"}) {
    SCOPED_TRACE(mode);
    frontend::ImportOptions o;
    o.input_shape.assign(x.sizes().begin(), x.sizes().end());
    ir::Model m = frontend::import_torchscript(c.dir.file(name + "." + mode + ".pt"), o);
    runtime::Executor ex(m);
    at::Tensor ours = ex.run({x.clone()}).at(0);
    // Same ATen kernels on the same data: measured max|diff| 0 on every case; the bound leaves room
    // for another summation order in the residual block's convolutions (float rounding, ~1e-7).
    EXPECT_TRUE(test::all_close(ours, expected, 1e-5)) << "ours\n" << ours << "\nPyTorch\n" << expected;
    // The write-backs keep the batch dynamic: batch 3 against TorchScript's own forward.
    at::Tensor x3 = at::cat({x, x.narrow(0, 0, 1) * 0.5});
    at::Tensor ref3 = test::torchscript_forward(c.dir.file(name + "." + mode + ".pt"), x3.clone()).at(0);
    EXPECT_TRUE(test::all_close(ex.run({x3.clone()}).at(0), ref3, 1e-5)) << "batch 3";
  }
}

INSTANTIATE_TEST_SUITE_P(TorchScriptAlias, AcceptedProgram, ::testing::ValuesIn(kAccepted),
                         [](const auto& info) { return info.param; });

std::string q(const std::string& s) { return "'" + s + "'"; }

/// "aliasing_cases.py:<line>" of the first line of the script holding `code`.
std::string source_line(const std::string& code) {
  std::ifstream f(test::source_dir() + "/tests/frontend/aliasing_cases.py");
  std::string line;
  for (int n = 1; std::getline(f, line); ++n)
    if (line.find(code) != std::string::npos) return "aliasing_cases.py:" + std::to_string(n);
  ADD_FAILURE() << "no line holds " << code;
  return "?";
}

TEST(TorchScriptAlias, RefusedProgramsExitWithCode2AndSayWhere) {
  const Cases& c = cases();
  ASSERT_EQ(c.gen.exit_code, 0) << c.gen.out;
  struct Refusal {
    std::string code;                  // the refused line of aliasing_cases.py
    std::vector<std::string> message;  // parts of the message
    std::vector<const char*> modes = {"traced", "scripted"};
  };
  const std::map<std::string, Refusal> expect = {
      {"refuse_buffer_update",
       {"self.count.add_(1.0)",
        {"in-place 'aten::add_' changes buffer 'counter.count' of the module in forward at scope 'counter'"}}},
      {"refuse_parameter_update",
       {"self.w.mul_(0.5)", {"in-place 'aten::mul_' changes parameter 'w' at the top-level module", "out-of-place"}}},
      // Scripted only: the trace records the broadcast as an explicit aten::expand before copy_
      // (TracedBroadcastCopyIsAnExplicitExpand).
      {"refuse_broadcast_copy",
       {"x[:, 0:2] = x[:, 3:4]", {"aten::copy"}, {"scripted"}}},
      {"refuse_data_into_constant",
       {"c.add_(x[0])", {"in-place 'aten::add_' writes model data into a constant tensor", "out-of-place"}}},
      {"refuse_inplace_on_dropout_output",
       {"y.add_(2.0)", {"in-place 'aten::add_' on a tensor that shares memory with a dropout output", "out-of-place"}}},
      {"refuse_write_through_strided_slice",
       {"x[:, ::2].mul_(2.0)", {"in-place write through a strided slice", "out of place"}}},
      {"refuse_roll_of_the_batch", {"torch.roll(x, 1, 0)", {"'aten::roll'", "rolling the batch dim"}}},
      {"refuse_new_zeros_of_the_batch_size",
       {"m = x.new_zeros((x.size(0), 4))", {"'aten::new_zeros' with the batch size in its shape", "broadcasting"}}},
      {"refuse_two_index_tensors", {"x[:, self.i, self.j]", {"'aten::index'", "more than one index tensor"}}},
  };
  size_t refused = 0;
  for (auto& [name, ok] : c.accept) refused += !ok;
  EXPECT_EQ(refused, expect.size());
  for (const auto& [name, refusal] : expect) {
    for (const char* mode : refusal.modes) {
      SCOPED_TRACE(name + " " + mode);
      std::string out = c.dir.file(name + "." + mode + ".out.npy");
      auto r = test::run_compress("run " + q(c.dir.file(name + "." + mode + ".pt")) + " --input " +
                                  q(c.dir.file(name + ".input.npy")) + " --output " + q(out));
      EXPECT_EQ(r.exit_code, 2) << r.out;
      EXPECT_NE(r.out.find(source_line(refusal.code)), std::string::npos) << refusal.code << "\n" << r.out;
      for (const auto& part : refusal.message) EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
      EXPECT_FALSE(std::filesystem::exists(out));
    }
  }
}

TEST(TorchScriptAlias, TracedBroadcastCopyIsAnExplicitExpand) {
  // x[:, 0:2] = x[:, 3:4] traced: aten::expand of the source to [2, 2, 3], then a copy_ of equal
  // shapes, which the importer maps. The trace baked the shape in, so only the import shape.
  const Cases& c = cases();
  ASSERT_EQ(c.gen.exit_code, 0) << c.gen.out;
  const std::string pt = c.dir.file("refuse_broadcast_copy.traced.pt");
  at::Tensor x = data::read_npy(c.dir.file("refuse_broadcast_copy.input.npy"));
  frontend::ImportOptions o;
  o.input_shape.assign(x.sizes().begin(), x.sizes().end());
  ir::Model m = frontend::import_torchscript(pt, o);
  runtime::Executor ex(m);
  at::Tensor ref = test::torchscript_forward(pt, x.clone()).at(0);
  EXPECT_TRUE(test::all_close(ex.run({x.clone()}).at(0), ref, 1e-5));
  EXPECT_TRUE(at::equal(ref.narrow(1, 0, 2), ref.narrow(1, 3, 1).expand({-1, 2, -1}))) << "the oracle broadcast";
}

}  // namespace
}  // namespace mc
