// optimize: the default pipeline to a fixed point on a small CNN.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/model.h"
#include "ir/passes/optimize.h"
#include "ir/passes/pass_util.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::ir;

using mc::ir::pass_test::count;

namespace {
// conv - (dropout) - batch_norm - relu - max_pool - flatten - linear - dropout, with a constant
// subexpression and a duplicate param node thrown in.
Model conv_bn_net() {
  Model m;
  m.graph = Graph::parse(R"IR(
graph(%x: f32[2,3,8,8]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d[padding=[1,1]](%x, %w) @conv
  %d0 = dropout[p=0.1](%c) @drop0
  %g = param[name="bn.weight"]() @bn
  %be = param[name="bn.bias"]() @bn
  %mu = constant[name="bn.running_mean"]() @bn
  %v0 = constant[name="bn.running_var"]() @bn
  %one = constant[name="one"]()
  %v = mul(%v0, %one) @bn
  %n = batch_norm[eps=0.00001, momentum=0.1](%d0, %g, %be, %mu, %v) @bn
  %r = relu(%n) @relu
  %p = max_pool2d[kernel=[2,2], stride=[2,2]](%r) @pool
  %f = flatten[start_dim=1](%p)
  %lw = param[name="fc.weight"]() @fc
  %lb = param[name="fc.bias"]() @fc
  %lb2 = param[name="fc.bias"]() @fc
  %l = linear(%f, %lw, %lb) @fc
  %dead = add(%lb, %lb2)
  %y = dropout[p=0.5](%l) @drop
  return(%y)
}
)IR", "optimize_test");
  m.tensors["conv.weight"] = at::randn({6, 3, 3, 3});
  m.tensors["bn.weight"] = at::randn({6}) * 2;
  m.tensors["bn.bias"] = at::randn({6});
  m.tensors["bn.running_mean"] = at::randn({6}) * 3 + 1;
  m.tensors["bn.running_var"] = at::rand({6}) * 4 + 0.05;
  m.tensors["one"] = at::ones({1});
  m.tensors["fc.weight"] = at::randn({10, 96});
  m.tensors["fc.bias"] = at::randn({10});
  m.infer_shapes();
  m.verify();
  return m;
}
}  // namespace

TEST(Optimize, ConvBnReluPoolFlattenLinearDropout) {
  at::manual_seed(0);
  Model m = conv_bn_net();
  at::Tensor x = at::randn({2, 3, 8, 8});
  at::Tensor before = mc::runtime::Executor(m).run1(x);

  passes::OptimizeSummary s = passes::optimize(m);
  m.infer_shapes();
  m.verify();
  EXPECT_TRUE(s.converged);
  EXPECT_TRUE(s.changed());
  EXPECT_EQ(count(m, "batch_norm"), 0);
  EXPECT_EQ(count(m, "dropout"), 0);
  EXPECT_EQ(count(m, "mul"), 0);
  EXPECT_EQ(count(m, "add"), 0);
  EXPECT_EQ(count(m, "constant"), 0);
  // conv(w, b) relu pool flatten linear(w, b): 9 nodes, parameter names kept.
  EXPECT_EQ(m.graph.num_nodes(), 9u);
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"conv.weight", "conv.bias", "fc.weight", "fc.bias"}));
  EXPECT_EQ(m.tensors.size(), 4u);
  EXPECT_EQ(m.graph.outputs()[0]->producer()->op(), "linear");
  EXPECT_EQ(s.nodes_after, 9);
  EXPECT_EQ(s.tensors_after, 4);

  at::Tensor after = mc::runtime::Executor(m).run1(x);
  EXPECT_TRUE(at::allclose(after, before, 1e-4, 1e-4)) << (after - before).abs().max().item<float>();

  const std::string text = s.to_string();
  RecordProperty("summary", text);
  EXPECT_NE(text.find("fold_batch_norm: changed 1 of"), std::string::npos) << text;
  EXPECT_NE(text.find("batch_norm -1"), std::string::npos) << text;
  EXPECT_NE(text.find("dropout -2"), std::string::npos) << text;
  EXPECT_NE(text.find("(fixed point)"), std::string::npos) << text;

  // A second run finds nothing to do.
  passes::OptimizeSummary again = passes::optimize(m);
  EXPECT_FALSE(again.changed());
  EXPECT_EQ(again.iterations, 1);
}

TEST(Optimize, SummaryCountsPerPassAndStopsAtMaxIterations) {
  at::manual_seed(1);
  Model m = conv_bn_net();
  passes::OptimizeOptions opt;
  opt.max_iterations = 1;
  passes::OptimizeSummary s = passes::optimize(m, opt);
  EXPECT_EQ(s.iterations, 1);
  EXPECT_FALSE(s.converged);  // the one sweep changed the model
  ASSERT_EQ(s.passes.size(), passes::default_pipeline().size());
  EXPECT_EQ(s.passes[0].pass, "remove_identities");
  EXPECT_EQ(s.passes[0].op_delta.at("dropout"), -2);
  for (const auto& p : s.passes) EXPECT_EQ(p.runs, 1) << p.pass;
  EXPECT_EQ(count(m, "batch_norm"), 0);
}

TEST(Optimize, RunPipelineVerifiesEachPass) {
  Model m = conv_bn_net();
  // A broken pass: drops a tensor that a param node still refers to.
  passes::NamedPass bad{"break_graph", [](Model& model) { return model.tensors.erase("fc.weight") == 1; }};
  try {
    passes::run_pipeline(m, {bad});
    FAIL() << "expected an error";
  } catch (const mc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("after pass 'break_graph'"), std::string::npos) << e.what();
  }
}
