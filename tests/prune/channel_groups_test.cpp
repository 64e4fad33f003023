// Dependency groups on tiny graphs, one per coupling case, and exact removal: channels whose
// producing slices are zero are removed, and the smaller model computes the same outputs.
#include <gtest/gtest.h>

#include "common/error.h"
#include "ir/op_registry.h"
#include "prune/channel_test_util.h"
#include "pruning/channel_rules.h"
#include "support/test_env.h"

using namespace mc::prune;
using namespace mc::prune::test;
using mc::ir::Model;

namespace {

const char* kHead = R"IR(
  %p = adaptive_avg_pool2d[output_size=[1,1]](%top)
  %f = flatten[start_dim=1, end_dim=-1](%p)
  %wf = param[name="fc.weight"]() @fc
  %bf = param[name="fc.bias"]() @fc
  %y = linear(%f, %wf, %bf) @fc
  return(%y)
}
)IR";

std::string bn(const std::string& name, const std::string& in, const std::string& out) {
  return "  %" + name + "_g = param[name=\"" + name + ".weight\"]() @" + name + "\n  %" + name + "_b = param[name=\"" +
         name + ".bias\"]() @" + name + "\n  %" + name + "_m = constant[name=\"" + name + ".running_mean\"]() @" +
         name + "\n  %" + name + "_v = constant[name=\"" + name + ".running_var\"]() @" + name + "\n  %" + out +
         " = batch_norm[eps=0.00001](%" + in + ", %" + name + "_g, %" + name + "_b, %" + name + "_m, %" + name +
         "_v) @" + name + "\n";
}
void add_bn_shapes(std::map<std::string, std::vector<int64_t>>& s, const std::string& name, int64_t c) {
  for (const char* k : {".weight", ".bias", ".running_mean", ".running_var"}) s[name + k] = {c};
}

}  // namespace

TEST(ChannelGroups, ResidualAddCouplesAllItsInputs) {
  std::map<std::string, std::vector<int64_t>> shapes{{"stem.weight", {8, 3, 3, 3}}, {"b.conv1.weight", {6, 8, 3, 3}},
                                                     {"b.conv2.weight", {8, 6, 3, 3}}, {"fc.weight", {5, 8}},
                                                     {"fc.bias", {5}}};
  add_bn_shapes(shapes, "bn0", 8);
  Model m = tiny_model(std::string("graph(%x: f32[2,3,8,8]) {\n") + R"IR(
  %w0 = param[name="stem.weight"]() @stem
  %c0 = conv2d[padding=[1,1]](%x, %w0) @stem
)IR" + bn("bn0", "c0", "b0") + R"IR(
  %r0 = relu(%b0)
  %w1 = param[name="b.conv1.weight"]() @b.conv1
  %c1 = conv2d[padding=[1,1]](%r0, %w1) @b.conv1
  %r1 = relu(%c1)
  %w2 = param[name="b.conv2.weight"]() @b.conv2
  %c2 = conv2d[padding=[1,1]](%r1, %w2) @b.conv2
  %s = add(%c2, %r0) @b
  %top = relu(%s)
)IR" + kHead, shapes);
  DependencyGraph g = analyze_channels(m);
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"stem + b.conv2:8", "b.conv1:6"}));
  EXPECT_EQ(member_tensors(g, 0),
            (std::set<std::string>{"stem.weight@0", "bn0.weight@0", "bn0.bias@0", "bn0.running_mean@0",
                                   "bn0.running_var@0", "b.conv1.weight@1", "b.conv2.weight@0", "fc.weight@1"}));
  EXPECT_EQ(member_tensors(g, 1), (std::set<std::string>{"b.conv1.weight@0", "b.conv2.weight@1"}));
  Model p = expect_exact_removal(m, pick_units(g, {1, 4}), at::randn({2, 3, 8, 8}));
  EXPECT_EQ(p.tensor("stem.weight").size(0), 6);
  EXPECT_EQ(p.tensor("b.conv2.weight").sizes(), (at::IntArrayRef{6, 4, 3, 3}));
  EXPECT_EQ(p.tensor("fc.weight").sizes(), (at::IntArrayRef{5, 6}));
}

// embedding(ids, w): the output features are the table's columns w[:, o]; removing one removes
// the column and the next layer's input column (int64 token ids in, no channels on the ids).
TEST(ChannelGroups, EmbeddingColumnsAreChannels) {
  std::map<std::string, std::vector<int64_t>> shapes{{"emb.weight", {11, 8}}, {"fc.weight", {4, 8}}, {"fc.bias", {4}}};
  Model m = tiny_model(R"IR(graph(%ids: i64[2,5]) {
  %w = param[name="emb.weight"]() @emb
  %e = embedding(%ids, %w) @emb
  %g = gelu(%e)
  %wf = param[name="fc.weight"]() @fc
  %bf = param[name="fc.bias"]() @fc
  %y = linear(%g, %wf, %bf) @fc
  return(%y)
}
)IR", shapes);
  DependencyGraph g = analyze_channels(m);
  ASSERT_EQ(g.groups().size(), 1u) << ::testing::PrintToString(group_summary(g));
  EXPECT_EQ(g.groups()[0].units.size(), 8u);
  EXPECT_EQ(member_tensors(g, 0), (std::set<std::string>{"emb.weight@1", "fc.weight@1"}));
  Model p = expect_exact_removal(m, pick_units(g, {1, 4}), at::randint(11, {2, 5}));
  EXPECT_EQ(p.tensor("emb.weight").sizes(), (at::IntArrayRef{11, 6}));
  EXPECT_EQ(p.tensor("fc.weight").sizes(), (at::IntArrayRef{4, 6}));
}

TEST(ChannelGroups, ConcatKeepsOffsets) {
  std::map<std::string, std::vector<int64_t>> shapes{{"a.weight", {4, 3, 1, 1}}, {"b.weight", {6, 3, 3, 3}},
                                                     {"mix.weight", {7, 10, 1, 1}}, {"mix.bias", {7}},
                                                     {"fc.weight", {5, 7}}, {"fc.bias", {5}}};
  Model m = tiny_model(R"IR(graph(%x: f32[2,3,8,8]) {
  %wa = param[name="a.weight"]() @a
  %ca = conv2d(%x, %wa) @a
  %wb = param[name="b.weight"]() @b
  %cb = conv2d[padding=[1,1]](%x, %wb) @b
  %c = cat[dim=1](%ca, %cb) @cat
  %r = relu(%c)
  %wm = param[name="mix.weight"]() @mix
  %bm = param[name="mix.bias"]() @mix
  %top = conv2d(%r, %wm, %bm) @mix
)IR" + std::string(kHead), shapes);
  DependencyGraph g = analyze_channels(m);
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"a:4", "b:6", "mix:7"}));
  // Unit 2 of b is input channel 4 + 2 of mix.
  bool found = false;
  const std::vector<Group> groups = g.groups();
  for (const Member& mem : groups[1].units[2].members)
    if (mem.tensor == "mix.weight") found = mem.dim == 1 && mem.index == 6;
  EXPECT_TRUE(found);
  Model p = expect_exact_removal(m, pick_units(g, {0, 2}), at::randn({2, 3, 8, 8}));
  EXPECT_EQ(p.tensor("mix.weight").sizes(), (at::IntArrayRef{5, 6, 1, 1}));
}

TEST(ChannelGroups, DepthwiseConvPassesChannelsAndUpdatesGroups) {
  std::map<std::string, std::vector<int64_t>> shapes{{"pw1.weight", {8, 3, 1, 1}}, {"dw.weight", {8, 1, 3, 3}},
                                                     {"dw.bias", {8}}, {"pw2.weight", {6, 8, 1, 1}},
                                                     {"fc.weight", {5, 6}}, {"fc.bias", {5}}};
  add_bn_shapes(shapes, "bn", 8);
  Model m = tiny_model(std::string(R"IR(graph(%x: f32[2,3,8,8]) {
  %w1 = param[name="pw1.weight"]() @pw1
  %c1 = conv2d(%x, %w1) @pw1
  %r1 = hardtanh[min_val=0.0, max_val=6.0](%c1)
  %wd = param[name="dw.weight"]() @dw
  %bd = param[name="dw.bias"]() @dw
  %cd = conv2d[padding=[1,1], groups=8](%r1, %wd, %bd) @dw
)IR") + bn("bn", "cd", "bd2") + R"IR(
  %r2 = relu(%bd2)
  %w2 = param[name="pw2.weight"]() @pw2
  %top = conv2d(%r2, %w2) @pw2
)IR" + kHead, shapes);
  DependencyGraph g = analyze_channels(m);
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"pw1 + dw:8", "pw2:6"}));
  EXPECT_EQ(member_tensors(g, 0), (std::set<std::string>{"pw1.weight@0", "dw.weight@0", "dw.bias@0", "bn.weight@0",
                                                         "bn.bias@0", "bn.running_mean@0", "bn.running_var@0",
                                                         "pw2.weight@1"}));
  Model p = expect_exact_removal(m, pick_units(g, {0, 3, 5}), at::randn({2, 3, 8, 8}));
  for (const mc::ir::Node* n : p.graph.nodes())
    if (n->scope() == "dw" && n->op() == "conv2d") EXPECT_EQ(n->attrs().i("groups"), 5);
}

TEST(ChannelGroups, GroupedConvFixesItsChannels) {
  std::map<std::string, std::vector<int64_t>> shapes{{"a.weight", {8, 3, 1, 1}}, {"g.weight", {8, 4, 3, 3}},
                                                     {"b.weight", {6, 8, 1, 1}}, {"fc.weight", {5, 6}},
                                                     {"fc.bias", {5}}};
  Model m = tiny_model(std::string(R"IR(graph(%x: f32[2,3,8,8]) {
  %wa = param[name="a.weight"]() @a
  %ca = conv2d(%x, %wa) @a
  %ra = relu(%ca)
  %wg = param[name="g.weight"]() @g
  %cg = conv2d[padding=[1,1], groups=2](%ra, %wg) @g
  %rg = relu(%cg)
  %wb = param[name="b.weight"]() @b
  %top = conv2d(%rg, %wb) @b
)IR") + kHead, shapes);
  DependencyGraph g = analyze_channels(m);
  // a feeds the grouped conv (fixed), g's outputs are fixed; only b is prunable.
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"b:6"}));
  expect_exact_removal(m, pick_units(g, {2}), at::randn({2, 3, 8, 8}));
}

// index_select (Swin's strided slices, gathers) along a spatial dim passes the channels through;
// along the channel dim it picks channels, which are then fixed.
TEST(ChannelGroups, IndexSelectPassesChannelsUnlessItPicksThem) {
  std::map<std::string, std::vector<int64_t>> shapes{{"a.weight", {8, 3, 1, 1}}, {"b.weight", {6, 8, 3, 3}},
                                                     {"fc.weight", {5, 6}}, {"fc.bias", {5}}};
  auto model = [&](const std::string& dim, const std::string& index) {
    return tiny_model(std::string(R"IR(graph(%x: f32[2,3,8,8]) {
  %wa = param[name="a.weight"]() @a
  %ca = conv2d(%x, %wa) @a
  %ra = relu(%ca)
  %s = index_select[dim=)IR") + dim + ", index=" + index + R"IR(](%ra) @s
  %wb = param[name="b.weight"]() @b
  %top = conv2d[padding=[1,1]](%s, %wb) @b
)IR" + kHead, shapes);
  };
  Model spatial = model("2", "[0,2,4,6,1,1,7,3]");
  DependencyGraph g = analyze_channels(spatial);
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"a:8", "b:6"}));
  expect_exact_removal(spatial, pick_units(g, {1, 5}), at::randn({2, 3, 8, 8}));
  shapes["b.weight"] = {6, 4, 3, 3};
  Model channels = model("1", "[0,2,4,6]");
  EXPECT_EQ(group_summary(analyze_channels(channels)), (std::vector<std::string>{"b:6"}));
}

TEST(ChannelGroups, FlattenIntoLinearMapsEachChannelToItsBlock) {
  std::map<std::string, std::vector<int64_t>> shapes{{"c.weight", {4, 3, 3, 3}}, {"c.bias", {4}},
                                                     {"fc1.weight", {7, 36}}, {"fc1.bias", {7}},
                                                     {"fc2.weight", {3, 7}}};
  Model m = tiny_model(R"IR(graph(%x: f32[2,3,6,6]) {
  %w = param[name="c.weight"]() @c
  %b = param[name="c.bias"]() @c
  %cv = conv2d[stride=[2,2], padding=[1,1]](%x, %w, %b) @c
  %r = relu(%cv)
  %f = flatten[start_dim=1, end_dim=-1](%r) @flatten
  %w1 = param[name="fc1.weight"]() @fc1
  %b1 = param[name="fc1.bias"]() @fc1
  %h = linear(%f, %w1, %b1) @fc1
  %rh = relu(%h)
  %w2 = param[name="fc2.weight"]() @fc2
  %y = linear(%rh, %w2) @fc2
  return(%y)
}
)IR", shapes);
  DependencyGraph g = analyze_channels(m);
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"c:4", "fc1:7"}));
  // Channel 1 owns features 9..17 of fc1.
  std::set<int64_t> idx;
  const std::vector<Group> groups = g.groups();
  for (const Member& mem : groups[0].units[1].members)
    if (mem.tensor == "fc1.weight") idx.insert(mem.index);
  EXPECT_EQ(idx, (std::set<int64_t>{9, 10, 11, 12, 13, 14, 15, 16, 17}));
  Model p = expect_exact_removal(m, pick_units(g, {1}), at::randn({2, 3, 6, 6}));
  EXPECT_EQ(p.tensor("fc1.weight").sizes(), (at::IntArrayRef{6, 27}));
}

TEST(ChannelGroups, SqueezeExcitationCouplesItsConvsToTheBlock) {
  std::map<std::string, std::vector<int64_t>> shapes{{"c.weight", {8, 3, 3, 3}}, {"c.bias", {8}},
                                                     {"se.fc1.weight", {4, 8, 1, 1}}, {"se.fc1.bias", {4}},
                                                     {"se.fc2.weight", {8, 4, 1, 1}}, {"se.fc2.bias", {8}},
                                                     {"proj.weight", {6, 8, 1, 1}}, {"fc.weight", {5, 6}},
                                                     {"fc.bias", {5}}};
  Model m = tiny_model(std::string(R"IR(graph(%x: f32[2,3,8,8]) {
  %w = param[name="c.weight"]() @c
  %b = param[name="c.bias"]() @c
  %cv = conv2d[padding=[1,1]](%x, %w, %b) @c
  %a = silu(%cv)
  %sq = adaptive_avg_pool2d[output_size=[1,1]](%a) @se.avgpool
  %w1 = param[name="se.fc1.weight"]() @se.fc1
  %b1 = param[name="se.fc1.bias"]() @se.fc1
  %s1 = conv2d(%sq, %w1, %b1) @se.fc1
  %s1a = silu(%s1)
  %w2 = param[name="se.fc2.weight"]() @se.fc2
  %b2 = param[name="se.fc2.bias"]() @se.fc2
  %s2 = conv2d(%s1a, %w2, %b2) @se.fc2
  %gate = sigmoid(%s2)
  %scaled = mul(%a, %gate) @se
  %wp = param[name="proj.weight"]() @proj
  %top = conv2d(%scaled, %wp) @proj
)IR") + kHead, shapes);
  DependencyGraph g = analyze_channels(m);
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"c + se.fc2:8", "se.fc1:4", "proj:6"}));
  EXPECT_EQ(member_tensors(g, 0), (std::set<std::string>{"c.weight@0", "c.bias@0", "se.fc1.weight@1",
                                                         "se.fc2.weight@0", "se.fc2.bias@0", "proj.weight@1"}));
  expect_exact_removal(m, pick_units(g, {1, 2}), at::randn({2, 3, 8, 8}));
}

TEST(ChannelGroups, ChannelShuffleCouplesTheInterleavedHalves) {
  // ShuffleNet v2 unit as torchvision traces it: cat -> reshape [N,2,C/2,H,W] -> transpose(1,2) ->
  // reshape [N,C,H,W] -> split in halves.
  std::map<std::string, std::vector<int64_t>> shapes{{"b1.weight", {4, 3, 1, 1}}, {"b2.weight", {4, 3, 1, 1}},
                                                     {"next.weight", {4, 4, 1, 1}}, {"fc.weight", {5, 8}},
                                                     {"fc.bias", {5}}};
  add_bn_shapes(shapes, "bn1", 4);
  add_bn_shapes(shapes, "bn2", 4);
  Model m = tiny_model(std::string(R"IR(graph(%x: f32[2,3,8,8]) {
  %w1 = param[name="b1.weight"]() @b1
  %c1 = conv2d(%x, %w1) @b1
)IR") + bn("bn1", "c1", "n1") + R"IR(
  %w2 = param[name="b2.weight"]() @b2
  %c2 = conv2d(%x, %w2) @b2
)IR" + bn("bn2", "c2", "n2") + R"IR(
  %r2 = relu(%n2)
  %c = cat[dim=1](%n1, %r2) @s
  %v = reshape[shape=[0,2,4,8,8]](%c) @s
  %t = transpose[dim0=1, dim1=2](%v) @s
  %sh = reshape[shape=[0,-1,8,8]](%t) @s
  %h0, %h1 = split[dim=1, sizes=[4,4]](%sh) @s2
  %wn = param[name="next.weight"]() @next
  %cn = conv2d(%h1, %wn) @next
  %rn = relu(%cn)
  %top = cat[dim=1](%h0, %rn) @s2
)IR" + kHead, shapes);
  DependencyGraph g = analyze_channels(m);
  // Shuffle positions 2i and 2i+1 hold b1[i] and b2[i]: one unit each, so 4 units of {b1, b2}.
  // h0 = [b1[0], b2[0], b1[1], b2[1]]: removing unit 1 takes two of its positions.
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"b1 + b2:4", "next:4"}));
  Model p = expect_exact_removal(m, pick_units(g, {1}), at::randn({2, 3, 8, 8}));
  for (const mc::ir::Node* n : p.graph.nodes()) {
    if (n->op() == "split") EXPECT_EQ(n->attrs().is("sizes"), (std::vector<int64_t>{2, 4}));
    if (n->op() == "reshape" && n->output()->shape().size() == 5) EXPECT_EQ(n->output()->shape()[2], 3);
  }
}

// expand keeps the channel dim in place (-1) and adds leading dims: a's channels reach b's inputs;
// a fixed size at the channel dim fixes them.
TEST(ChannelGroups, ExpandShiftsChannelDimsOrFixesThem) {
  std::map<std::string, std::vector<int64_t>> shapes{{"a.weight", {4, 6}}, {"b.weight", {5, 4}}};
  for (const char* shape : {"[3,-1,-1]", "[3,-1,4]"}) {
    SCOPED_TRACE(shape);
    Model m = tiny_model(std::string(R"IR(graph(%x: f32[2,6]) {
  %wa = param[name="a.weight"]() @a
  %h = linear(%x, %wa) @a
  %e = expand[shape=)IR") + shape + R"IR(](%h) @e
  %wb = param[name="b.weight"]() @b
  %y = linear(%e, %wb) @b
  return(%y)
}
)IR", shapes);
    DependencyGraph g = analyze_channels(m);
    if (std::string(shape) == "[3,-1,4]") {
      EXPECT_EQ(group_summary(g), std::vector<std::string>{});
      continue;
    }
    EXPECT_EQ(group_summary(g), (std::vector<std::string>{"a:4"}));
    EXPECT_EQ(member_tensors(g, 0), (std::set<std::string>{"a.weight@0", "b.weight@1"}));
    Model p = expect_exact_removal(m, pick_units(g, {1}), at::randn({2, 6}));
    EXPECT_EQ(p.tensor("b.weight").sizes(), (at::IntArrayRef{5, 3}));
  }
}

// A pre-norm transformer block as the zoo and the importer lower it: q/k/v projections, a head split
// [N,T,D] -> [N,T,H,dh], softmax(q k^T * scale) v, heads merged, out-projection, residual; then an
// MLP. `scalar` scales the scores.
std::string attention_block(int64_t heads, int64_t dh) {
  const std::string D = std::to_string(heads * dh), H = std::to_string(heads), d = std::to_string(dh);
  std::string t = "graph(%x: f32[2,5," + D + "]) {\n";
  t += R"IR(  %lw = param[name="ln.weight"]() @ln
  %lb = param[name="ln.bias"]() @ln
  %n = layer_norm[normalized_shape=[)IR" + D + R"IR(], eps=0.00001](%x, %lw, %lb) @ln
)IR";
  for (const char* p : {"q", "k", "v"}) {
    const std::string s = p;
    t += "  %w" + s + " = param[name=\"" + s + ".weight\"]() @" + s + "\n  %b" + s + " = param[name=\"" + s +
         ".bias\"]() @" + s + "\n  %" + s + " = linear(%n, %w" + s + ", %b" + s + ") @" + s + "\n  %" + s +
         "h = reshape[shape=[0,5," + H + "," + d + "]](%" + s + ") @attn\n";
  }
  t += R"IR(  %qt = transpose[dim0=1, dim1=2](%qh) @attn
  %kt = permute[dims=[0,2,3,1]](%kh) @attn
  %vt = transpose[dim0=1, dim1=2](%vh) @attn
  %s = matmul(%qt, %kt) @attn
  %sc = constant[name="scale"]() @attn
  %ss = mul(%s, %sc) @attn
  %a = softmax[dim=-1](%ss) @attn
  %c = matmul(%a, %vt) @attn
  %ct = transpose[dim0=1, dim1=2](%c) @attn
  %cm = reshape[shape=[0,5,)IR" + D + R"IR(]](%ct) @attn
  %wo = param[name="out.weight"]() @out
  %bo = param[name="out.bias"]() @out
  %o = linear(%cm, %wo, %bo) @out
  %r = add(%o, %x)
  %w1 = param[name="fc1.weight"]() @fc1
  %b1 = param[name="fc1.bias"]() @fc1
  %h = linear(%r, %w1, %b1) @fc1
  %g = gelu(%h) @fc1
  %w2 = param[name="fc2.weight"]() @fc2
  %b2 = param[name="fc2.bias"]() @fc2
  %m = linear(%g, %w2, %b2) @fc2
  %y = add(%m, %r)
  return(%y)
}
)IR";
  return t;
}

std::map<std::string, std::vector<int64_t>> attention_shapes(int64_t D) {
  std::map<std::string, std::vector<int64_t>> s{{"ln.weight", {D}}, {"ln.bias", {D}}, {"scale", {}},
                                                {"fc1.weight", {16, D}}, {"fc1.bias", {16}},
                                                {"fc2.weight", {D, 16}}, {"fc2.bias", {D}}};
  for (const char* p : {"q", "k", "v", "out"}) {
    s[std::string(p) + ".weight"] = {D, D};
    s[std::string(p) + ".bias"] = {D};
  }
  return s;
}

TEST(ChannelGroups, AttentionHeadsAreUnitsOfQKVAndTheOutProjection) {
  Model m = tiny_model(attention_block(3, 4), attention_shapes(12));
  DependencyGraph g = analyze_channels(m);
  // One unit per head (q, k, v rows of the head and the out-projection's columns); the MLP's hidden
  // units; the residual stream is fixed (graph input, layer_norm).
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"q + k + v:3", "fc1:16"}));
  EXPECT_EQ(member_tensors(g, 0, 1), (std::set<std::string>{"k.bias@0", "k.weight@0", "out.weight@1", "q.bias@0",
                                                            "q.weight@0", "v.bias@0", "v.weight@0"}));
  size_t members = g.groups()[0].units[1].members.size();
  EXPECT_EQ(members, 7u * 4u) << "4 positions of a head in each of the 7 slices";
  Model p = expect_exact_removal(m, pick_units(g, {1}), at::randn({2, 5, 12}));
  for (const mc::ir::Node* n : p.graph.nodes())
    if (n->op() == "reshape" && n->output()->shape().size() == 4)
      EXPECT_EQ(n->output()->shape(), (mc::ir::Shape{2, 5, 2, 4})) << "a whole head goes: H 3 -> 2, dh stays 4";
  EXPECT_EQ(p.tensors.at("out.weight").sizes(), (std::vector<int64_t>{12, 8}));
}

TEST(ChannelGroups, SingleHeadAttentionPairsQueryAndKeyFeatures) {
  // No head split: q k^T contracts the features, so q's feature i and k's feature i form a unit;
  // v's features pass through attn v to the out-projection.
  std::string t = attention_block(1, 6);
  for (const char* from : {"  %qh = reshape[shape=[0,5,1,6]](%q) @attn\n", "  %kh = reshape[shape=[0,5,1,6]](%k) @attn\n",
                           "  %vh = reshape[shape=[0,5,1,6]](%v) @attn\n"})
    t.erase(t.find(from), std::string(from).size());
  auto swap_line = [&](const std::string& a, const std::string& b) { t.replace(t.find(a), a.size(), b); };
  swap_line("  %qt = transpose[dim0=1, dim1=2](%qh) @attn", "  %qt = identity(%q) @attn");
  swap_line("  %kt = permute[dims=[0,2,3,1]](%kh) @attn", "  %kt = transpose[dim0=1, dim1=2](%k) @attn");
  swap_line("  %vt = transpose[dim0=1, dim1=2](%vh) @attn", "  %vt = identity(%v) @attn");
  swap_line("  %ct = transpose[dim0=1, dim1=2](%c) @attn", "  %ct = identity(%c) @attn");
  swap_line("  %cm = reshape[shape=[0,5,6]](%ct) @attn", "  %cm = identity(%ct) @attn");
  Model m = tiny_model(t, attention_shapes(6));
  DependencyGraph g = analyze_channels(m);
  EXPECT_EQ(group_summary(g), (std::vector<std::string>{"q + k:6", "v:6", "fc1:16"}));
  EXPECT_EQ(member_tensors(g, 0, 2), (std::set<std::string>{"k.bias@0", "k.weight@0", "q.bias@0", "q.weight@0"}));
  EXPECT_EQ(member_tensors(g, 1, 2), (std::set<std::string>{"out.weight@1", "v.bias@0", "v.weight@0"}));
  expect_exact_removal(m, pick_units(g, {2, 4}), at::randn({2, 5, 6}));
}

TEST(ChannelGroups, OpWithoutRuleNamesOpAndScope) {
  mc::ir::register_core_ops();
  mc::ir::OpDef d;
  d.name = "test_opaque";
  d.min_inputs = d.max_inputs = 1;
  d.shape = [](const mc::ir::Node&, const std::vector<mc::ir::TensorType>& in) { return in; };
  d.kernel = [](const mc::ir::Node&, const std::vector<at::Tensor>& in, const mc::ir::KernelContext&) { return in; };
  auto& reg = mc::ir::OpRegistry::instance();
  mc::test::ScopedRegistration op([&] { reg.add(d); }, [&] { reg.remove(d.name); });
  Model m = tiny_model(R"IR(graph(%x: f32[2,3,8,8]) {
  %w = param[name="c.weight"]() @c
  %cv = conv2d(%x, %w) @c
  %y = test_opaque(%cv) @block.odd
  return(%y)
}
)IR", {{"c.weight", {4, 3, 1, 1}}});
  try {
    analyze_channels(m);
    FAIL() << "expected InputError";
  } catch (const mc::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'test_opaque'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("block.odd"), std::string::npos) << e.what();
  }
  // The ops of the torchvision models and of the BERT-style text model all have rules.
  for (const char* op : {"conv2d", "batch_norm", "relu", "hardtanh", "silu", "sigmoid", "hardswish", "hardsigmoid",
                         "add", "mul", "cat", "split", "reshape", "transpose", "flatten", "mean", "linear",
                         "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "dropout", "layer_norm", "permute", "gelu",
                         "embedding", "cast", "expand",
                         "index_select", "softmax", "matmul"})
    EXPECT_NE(find_channel_rule(op), nullptr) << op;
}

// A second channel rule for an op is refused, naming both call sites; a test's scoped rule is gone
// after its scope.
TEST(ChannelGroups, DuplicateRuleIsAnErrorAndScopedRulesGoAway) {
  ASSERT_NE(find_channel_rule("conv2d"), nullptr);  // registers the built-in rules
  try {
    register_channel_rule("conv2d", ChannelRule{});
    FAIL() << "a second rule for 'conv2d' was accepted";
  } catch (const mc::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("channel rule of op 'conv2d' is registered twice"), std::string::npos) << msg;
    EXPECT_NE(msg.find("first at pruning/channel_rules_layers.cpp:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("again at prune/channel_groups_test.cpp:"), std::string::npos) << msg;
  }
  EXPECT_TRUE(find_channel_rule("conv2d")->propagate) << "the refused rule replaced the built-in one";
  {
    mc::test::ScopedRegistration r([] { register_channel_rule("test_scoped", ChannelRule{}); },
                                   [] { unregister_channel_rule("test_scoped"); });
    EXPECT_NE(find_channel_rule("test_scoped"), nullptr);
  }
  EXPECT_EQ(find_channel_rule("test_scoped"), nullptr);
}

// The residual stream of a pre-norm transformer (embedding linear, LayerNorm, MLP with a residual,
// final LayerNorm, head). By default LayerNorm fixes it; with through_layer_norm the stream is one
// group whose units own the embedding rows, fc2's rows, both norms' entries and the consumers'
// columns. Removal is not output-preserving (the norms' statistics change), so the oracle is the
// same network computed with ATen on the kept channels' slices.
TEST(ChannelGroups, ThroughLayerNormPrunesTheResidualStream) {
  const std::string text = R"IR(graph(%x: f32[2,5,6]) {
  %we = param[name="embed.weight"]() @embed
  %be = param[name="embed.bias"]() @embed
  %e = linear(%x, %we, %be) @embed
  %l1w = param[name="ln1.weight"]() @ln1
  %l1b = param[name="ln1.bias"]() @ln1
  %n1 = layer_norm[normalized_shape=[8], eps=0.00001](%e, %l1w, %l1b) @ln1
  %w1 = param[name="fc1.weight"]() @fc1
  %b1 = param[name="fc1.bias"]() @fc1
  %h = linear(%n1, %w1, %b1) @fc1
  %g = gelu(%h) @fc1
  %w2 = param[name="fc2.weight"]() @fc2
  %b2 = param[name="fc2.bias"]() @fc2
  %m = linear(%g, %w2, %b2) @fc2
  %r = add(%m, %e)
  %l2w = param[name="ln2.weight"]() @ln2
  %l2b = param[name="ln2.bias"]() @ln2
  %n2 = layer_norm[normalized_shape=[8], eps=0.00001](%r, %l2w, %l2b) @ln2
  %wh = param[name="head.weight"]() @head
  %bh = param[name="head.bias"]() @head
  %y = linear(%n2, %wh, %bh) @head
  return(%y)
}
)IR";
  Model m = tiny_model(text, {{"embed.weight", {8, 6}}, {"embed.bias", {8}}, {"ln1.weight", {8}}, {"ln1.bias", {8}},
                              {"fc1.weight", {16, 8}}, {"fc1.bias", {16}}, {"fc2.weight", {8, 16}}, {"fc2.bias", {8}},
                              {"ln2.weight", {8}}, {"ln2.bias", {8}}, {"head.weight", {3, 8}}, {"head.bias", {3}}});
  EXPECT_EQ(group_summary(analyze_channels(m)), (std::vector<std::string>{"fc1:16"}));
  ChannelOptions o;
  o.through_layer_norm = true;
  DependencyGraph g = analyze_channels(m, o);
  ASSERT_EQ(group_summary(g), (std::vector<std::string>{"embed + fc2:8", "fc1:16"}));
  EXPECT_EQ(member_tensors(g, 0, 3),
            (std::set<std::string>{"embed.bias@0", "embed.weight@0", "fc1.weight@1", "fc2.bias@0", "fc2.weight@0",
                                   "head.weight@1", "ln1.bias@0", "ln1.weight@0", "ln2.bias@0", "ln2.weight@0"}));
  const std::vector<int64_t> kept = {0, 2, 3, 5, 7};  // units 1, 4 and 6 go
  std::set<int64_t> units;
  for (int64_t u : {1, 4, 6}) units.insert(g.groups()[0].units[u].id);
  Model p = m.clone();
  DependencyGraph gp = analyze_channels(p, o);
  EXPECT_EQ(remove_channels(p, gp, units).units, 3);
  for (const mc::ir::Node* n : p.graph.nodes())
    if (n->op() == "layer_norm") EXPECT_EQ(n->attrs().is("normalized_shape"), (std::vector<int64_t>{5}));

  at::manual_seed(5);
  const at::Tensor x = at::randn({2, 5, 6});
  const at::Tensor k = at::tensor(kept);
  auto t = [&](const char* name) { return m.tensors.at(name); };
  auto rows = [&](const char* name) { return t(name).index_select(0, k); };
  auto cols = [&](const char* name) { return t(name).index_select(1, k); };
  const at::Tensor e = at::linear(x, rows("embed.weight"), rows("embed.bias"));
  const at::Tensor n1 = at::layer_norm(e, {5}, rows("ln1.weight"), rows("ln1.bias"), 1e-5);
  const at::Tensor h = at::gelu(at::linear(n1, cols("fc1.weight"), t("fc1.bias")));
  const at::Tensor r = at::linear(h, rows("fc2.weight"), rows("fc2.bias")) + e;
  const at::Tensor n2 = at::layer_norm(r, {5}, rows("ln2.weight"), rows("ln2.bias"), 1e-5);
  const at::Tensor want = at::linear(n2, cols("head.weight"), t("head.bias"));
  const at::Tensor got = mc::runtime::Executor(p).run1(x);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6)) << (got - want).abs().max().item<double>();
}
