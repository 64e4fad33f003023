// decompose_conv: every method's chain reproduces the conv through the executor (strided, padded,
// dilated, non-square and rectangular cases), keeps stride/padding/dilation in the right factor,
// and leaves a clean graph; grouped convs and quantized weights are refused.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "lowrank/cp_als.h"
#include "lowrank/lowrank_test_util.h"
#include "lowrank/rewrite.h"
#include "lowrank/svd.h"
#include "lowrank/tucker.h"
#include "runtime/executor.h"

using namespace mc;
using namespace mc::lowrank;
using mc::lowrank::test::compose;
using mc::lowrank::test::conv_model;
using mc::lowrank::test::count;
using mc::lowrank::test::rel_max;

// Output tolerance: the reference is the executor's float32 run of the original conv (sums of
// C kh kw <= 125 products); the chain sums the same terms in two to four float32 stages with
// factors rounded to float32. Measured max |diff| / max |y| <= 4.4e-7 over the cases below (the
// 5x5 ones largest); asserted at 1e-5.
constexpr double kOutTol = 1e-5;

namespace {

struct Case {
  const char* name;
  int64_t n, c, kh, kw;
  std::string attrs, input;
  std::vector<int64_t> input_shape;
};

// Square, non-square (3x1, 1x3) and 5x5 kernels; N != C; strides (2,2), (2,1), (1,2); padding on
// one axis only; dilation on either axis.
const std::vector<Case>& cases() {
  static const std::vector<Case> c{
      {"3x3 s2 p1", 6, 4, 3, 3, "padding=[1,1], stride=[2,2]", "[2,4,9,9]", {2, 4, 9, 9}},
      {"3x1 s(2,1) p(1,0)", 5, 3, 3, 1, "padding=[1,0], stride=[2,1]", "[2,3,8,7]", {2, 3, 8, 7}},
      {"1x3 s(1,2) p(0,1)", 4, 6, 1, 3, "padding=[0,1], stride=[1,2]", "[2,6,7,8]", {2, 6, 7, 8}},
      {"5x5 p2", 7, 5, 5, 5, "padding=[2,2]", "[1,5,10,10]", {1, 5, 10, 10}},
      {"3x3 s(2,1) p(1,2) d(2,1)", 3, 4, 3, 3, "dilation=[2,1], padding=[1,2], stride=[2,1]", "[2,4,11,9]",
       {2, 4, 11, 9}},
      {"3x2 s(1,2) p(0,1) d(1,2)", 4, 3, 3, 2, "dilation=[1,2], padding=[0,1], stride=[1,2]", "[2,3,7,9]",
       {2, 3, 7, 9}},
  };
  return c;
}

// Full-rank factors of `w` for each method; for CP, exact factors of a weight built from them (CP
// has no "full rank" ALS is sure to reach), so `w` is replaced by that weight.
ConvFactors full_rank(ConvMethod method, at::Tensor& w) {
  const int64_t n = w.size(0), c = w.size(1), kh = w.size(2), kw = w.size(3);
  switch (method) {
    case ConvMethod::channel_svd: return channel_svd(w, std::min(n, c * kh * kw));
    case ConvMethod::spatial_svd: return spatial_svd(w, std::min(c * kh, n * kw));
    case ConvMethod::tucker2: return tucker2(w, c, n);
    case ConvMethod::cp: {
      const int64_t r = 5;
      ConvFactors f = cp_conv_factors(at::randn({n, r}), at::randn({c, r}), at::randn({kh, r}), at::randn({kw, r}));
      w = compose(f).to(at::kFloat);
      return f;
    }
  }
  return {};
}

// The conv nodes of the chain, in graph order.
std::vector<ir::Node*> convs(const ir::Model& m) {
  std::vector<ir::Node*> out;
  for (ir::Node* n : m.graph.nodes())
    if (n->op() == "conv2d") out.push_back(n);
  return out;
}

// Decomposes the single conv of `m` and returns max |after - before| / max |before| on `x`.
double decompose_and_compare(ir::Model& m, const ConvFactors& f, const at::Tensor& x) {
  const at::Tensor before = runtime::Executor(m).run1(x);
  decompose_conv(m, convs(m).at(0), f);
  m.verify();
  return rel_max(runtime::Executor(m).run1(x), before);
}

}  // namespace

TEST(DecomposeConv, FullRankEveryMethodReproducesTheLayer) {
  for (ConvMethod method : {ConvMethod::channel_svd, ConvMethod::spatial_svd, ConvMethod::tucker2, ConvMethod::cp}) {
    for (const Case& c : cases()) {
      SCOPED_TRACE(method_name(method) + " " + c.name);
      at::manual_seed(50);
      at::Tensor w = at::randn({c.n, c.c, c.kh, c.kw});
      const ConvFactors f = full_rank(method, w);
      ir::Model m = conv_model(w, c.attrs, c.input);
      const double err = decompose_and_compare(m, f, at::randn(c.input_shape));
      std::printf("%-12s %-26s full rank: max rel diff %.2e\n", method_name(method).c_str(), c.name, err);
      EXPECT_LT(err, kOutTol);
    }
  }
}

TEST(DecomposeConv, TrueRankReproducesTheLayer) {
  at::manual_seed(51);
  const Case& c = cases()[0];  // 3x3, stride 2, padding 1, N 6, C 4
  const at::Tensor x = at::randn(c.input_shape);
  {
    const at::Tensor w = mc::lowrank::test::low_rank_matrix(6, 4 * 9, 2).reshape({6, 4, 3, 3});
    ir::Model m = conv_model(w, c.attrs, c.input);
    const double err = decompose_and_compare(m, channel_svd(w, 2), x);
    std::printf("channel_svd rank 2 through the executor: max rel diff %.2e\n", err);
    EXPECT_LT(err, kOutTol);
  }
  {
    const at::Tensor mat = mc::lowrank::test::low_rank_matrix(4 * 3, 6 * 3, 2);
    const at::Tensor w = mat.reshape({4, 3, 6, 3}).permute({2, 0, 1, 3}).contiguous();
    ir::Model m = conv_model(w, c.attrs, c.input);
    const double err = decompose_and_compare(m, spatial_svd(w, 2), x);
    std::printf("spatial_svd rank 2 through the executor: max rel diff %.2e\n", err);
    EXPECT_LT(err, kOutTol);
  }
  {
    const at::Tensor w = at::einsum("na,abyx,cb->ncyx", {at::randn({6, 3}), at::randn({3, 2, 3, 3}), at::randn({4, 2})});
    ir::Model m = conv_model(w, c.attrs, c.input);
    const double err = decompose_and_compare(m, tucker2(w, 2, 3), x);
    std::printf("tucker2 ranks (2, 3) through the executor: max rel diff %.2e\n", err);
    EXPECT_LT(err, kOutTol);
  }
}

TEST(DecomposeConv, SpatialSvdSplitsStridePaddingAndDilationByAxis) {
  at::manual_seed(52);
  ir::Model m = conv_model(at::randn({4, 3, 3, 3}), "dilation=[2,3], padding=[1,2], stride=[2,1]", "[1,3,12,12]");
  decompose_conv(m, convs(m)[0], spatial_svd(m.tensor("conv.weight"), 3));
  m.verify();
  const auto cs = convs(m);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0]->attrs().is("stride"), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(cs[0]->attrs().is("padding"), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(cs[0]->attrs().is("dilation"), (std::vector<int64_t>{2, 1}));
  EXPECT_FALSE(cs[1]->attrs().has("stride"));  // [1, 1] is not written
  EXPECT_EQ(cs[1]->attrs().is("padding"), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(cs[1]->attrs().is("dilation"), (std::vector<int64_t>{1, 3}));
  // Rows: (12 + 2 - 2 (3 - 1) - 1) / 2 + 1 = 5, as the original conv; columns untouched.
  EXPECT_EQ(cs[0]->output()->type().shape, (ir::Shape{1, 3, 5, 12}));
}

TEST(DecomposeConv, ChainsScopesAndParamsPerMethod) {
  struct Expect {
    ConvMethod method;
    std::vector<std::vector<int64_t>> shapes;
    std::vector<int64_t> groups;
  };
  const std::vector<Expect> expects{
      {ConvMethod::channel_svd, {{3, 4, 3, 3}, {6, 3, 1, 1}}, {1, 1}},
      {ConvMethod::spatial_svd, {{3, 4, 3, 1}, {6, 3, 1, 3}}, {1, 1}},
      {ConvMethod::tucker2, {{2, 4, 1, 1}, {3, 2, 3, 3}, {6, 3, 1, 1}}, {1, 1, 1}},
      {ConvMethod::cp, {{5, 4, 1, 1}, {5, 1, 3, 1}, {5, 1, 1, 3}, {6, 5, 1, 1}}, {1, 5, 5, 1}},
  };
  for (const Expect& e : expects) {
    SCOPED_TRACE(method_name(e.method));
    at::manual_seed(53);
    const at::Tensor w = at::randn({6, 4, 3, 3});
    ir::Model m = conv_model(w, "padding=[1,1]", "[2,4,6,6]");
    m.graph.outputs()[0]->producer()->set_scope("layer1.0.conv1");
    ConvFactors f = e.method == ConvMethod::channel_svd ? channel_svd(w, 3)
                    : e.method == ConvMethod::spatial_svd ? spatial_svd(w, 3)
                    : e.method == ConvMethod::tucker2     ? tucker2(w, 2, 3)
                                                          : cp_als(w, 5, {20, 1e-6, 0}).factors;
    decompose_conv(m, convs(m)[0], f);
    m.verify();
    const auto cs = convs(m);
    ASSERT_EQ(cs.size(), e.shapes.size());
    EXPECT_EQ(m.graph.num_nodes(), 2 * e.shapes.size() + 1);  // param + conv per factor, the bias param
    EXPECT_EQ(m.tensors.count("conv.weight"), 0u);
    std::vector<std::string> params{"conv.bias"};  // graph order: the bias param came before the conv
    for (size_t k = 0; k < cs.size(); ++k) {
      const std::string lr = "lr" + std::to_string(k);
      EXPECT_EQ(cs[k]->scope(), "layer1.0.conv1." + lr);
      const ir::Node* p = cs[k]->input(1)->producer();
      EXPECT_EQ(p->scope(), "layer1.0.conv1." + lr);
      EXPECT_EQ(p->attrs().s("name"), "conv." + lr + ".weight");
      EXPECT_EQ(m.tensor(p->attrs().s("name")).sizes(), e.shapes[k]);
      EXPECT_EQ(cs[k]->attrs().i("groups", 1), e.groups[k]);
      EXPECT_EQ(cs[k]->inputs().size(), k + 1 == cs.size() ? 3u : 2u);  // the bias on the last factor only
      params.push_back(p->attrs().s("name"));
    }
    EXPECT_EQ(m.param_names(), params);
    EXPECT_EQ(m.graph.outputs()[0]->producer(), cs.back());
    EXPECT_EQ(m.graph.outputs()[0]->type().shape, (ir::Shape{2, 6, 6, 6}));
  }
}

TEST(DecomposeConv, WithoutBiasNoFactorGetsOne) {
  at::manual_seed(54);
  const at::Tensor w = at::randn({5, 3, 3, 3});
  ir::Model m = conv_model(w, "stride=[2,2]", "[1,3,9,9]", /*bias=*/false);
  EXPECT_LT(decompose_and_compare(m, tucker2(w, 3, 5), at::randn({1, 3, 9, 9})), kOutTol);
  for (ir::Node* c : convs(m)) EXPECT_EQ(c->inputs().size(), 2u);
  EXPECT_EQ(m.tensors.size(), 3u);
}

TEST(DecomposeConv, RefusesGroupedConvsWithTheScope) {
  at::manual_seed(55);
  ir::Model m = conv_model(at::randn({6, 2, 3, 3}), "groups=2", "[1,4,6,6]");
  ir::Node* conv = convs(m)[0];
  conv->set_scope("features.3.conv");
  try {
    conv_weight(m, conv);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("features.3.conv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("groups 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decompose_conv(m, conv, channel_svd(at::randn({6, 4, 3, 3}), 2)), InputError);
  EXPECT_EQ(m.graph.num_nodes(), 3u);
}

TEST(DecomposeConv, RefusesAQuantizedWeight) {
  at::manual_seed(56);
  ir::Model m = mc::lowrank::test::make_model(R"IR(graph(%x: f32[1,3,6,6]) {
  %w = param[name="stem.weight"]() @stem
  %s = constant[name="stem.s"]() @stem
  %z = constant[name="stem.z"]() @stem
  %wq = fake_quant[quant_min=-128, quant_max=127](%w, %s, %z) @stem
  %y = conv2d(%x, %wq) @stem
  return(%y)
}
)IR", {{"stem.weight", at::randn({4, 3, 3, 3})}, {"stem.s", at::tensor({0.05f})}, {"stem.z", at::tensor({0.0f})}});
  try {
    decompose_conv(m, convs(m)[0], channel_svd(at::randn({4, 3, 3, 3}), 2));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("decompose before quantize"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'stem'"), std::string::npos) << e.what();
  }
}

TEST(DecomposeConv, FactorsThatDoNotFitAreAnError) {
  at::manual_seed(57);
  const at::Tensor w = at::randn({6, 4, 3, 3});
  ir::Model m = conv_model(w, "", "[1,4,6,6]");
  ConvFactors wrong_method = channel_svd(w, 3);
  wrong_method.method = ConvMethod::spatial_svd;  // a 3x3 first factor where a 3x1 belongs
  EXPECT_THROW(decompose_conv(m, convs(m)[0], wrong_method), mc::Error);
  ConvFactors too_few = tucker2(w, 2, 2);
  too_few.weights.pop_back();
  EXPECT_THROW(decompose_conv(m, convs(m)[0], too_few), mc::Error);
  EXPECT_THROW(decompose_conv(m, convs(m)[0], channel_svd(at::randn({6, 5, 3, 3}), 3)), mc::Error);
  EXPECT_EQ(m.graph.num_nodes(), 3u);  // nothing changed
}
