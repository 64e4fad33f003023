// Layer selection shared by the technique stages (src/pipeline/layer_select.h): the weight layers
// of an IR-text model, recipe globs and glob maps parsed with their locations, the "glob matches
// nothing" error, select_layers() and last_match() order.
#include "pipeline/layer_select.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/pass_test_util.h"
#include "recipe/config_tree.h"

namespace mc::pipeline {
namespace {

// conv1's weight is shared by conv2 (listed once); fc's weight is behind a fake_quant; proj is
// x @ W, left is W @ x, batched has a 3-d param operand and square two activations (neither is a
// weight layer).
const char* kModel = R"IR(graph(%x: f32[2,3,4,4], %sq: f32[4,4]) {
  %w1 = param[name="conv1.weight"]() @layer1.0.conv1
  %c1 = conv2d[padding=[1,1]](%x, %w1) @layer1.0.conv1
  %c2 = conv2d[padding=[1,1]](%c1, %w1) @layer1.0.conv2
  %f = flatten[end_dim=-1, start_dim=1](%c2) @flatten
  %wq = param[name="fc.weight"]() @fc
  %s = constant[name="fc.scale"]() @fc
  %z = constant[name="fc.zero_point"]() @fc
  %wf = fake_quant[quant_min=-127, quant_max=127](%wq, %s, %z) @fc
  %y = linear(%f, %wf) @fc
  %wm = param[name="proj.weight"]() @proj
  %p = matmul(%y, %wm) @proj
  %wl = param[name="left.weight"]() @left
  %l = matmul(%wl, %p) @left
  %w3 = param[name="batched.weight"]() @batched
  %b = matmul(%sq, %w3) @batched
  %mm = matmul(%sq, %sq) @square
  %r = relu(%l) @relu
  return(%r, %b, %mm)
}
)IR";

ir::Model model() {
  at::manual_seed(0);
  return ir::pass_test::make(kModel, {{"conv1.weight", at::randn({3, 3, 3, 3})},
                                      {"fc.weight", at::randn({10, 48})},
                                      {"fc.scale", at::tensor({0.01f})},
                                      {"fc.zero_point", at::tensor({int64_t{0}})},
                                      {"proj.weight", at::randn({10, 4})},
                                      {"left.weight", at::randn({5, 2})},
                                      {"batched.weight", at::randn({2, 4, 4})}});
}

const ir::Node& node_of(const ir::Model& m, const std::string& value) { return *m.graph.find_value(value)->producer(); }

std::vector<WeightLayer> layers(const std::vector<std::string>& scopes) {
  std::vector<WeightLayer> out;
  for (const auto& s : scopes) out.push_back({s, "conv2d", s + ".weight", 1});
  return out;
}

// The message of the InputError `f` throws ("" when it throws none).
template <class F>
std::string input_error(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(FindWeightLayers, ConvLinearMatmulInGraphOrderWithInputDims) {
  const ir::Model m = model();
  const std::vector<WeightLayer> ws = find_weight_layers(m);
  ASSERT_EQ(ws.size(), 4u);
  EXPECT_EQ(ws[0].scope, "layer1.0.conv1");
  EXPECT_EQ(ws[0].op, "conv2d");
  EXPECT_EQ(ws[0].param, "conv1.weight");
  EXPECT_EQ(ws[0].input_dim, 1);
  EXPECT_EQ(ws[1].scope, "fc");
  EXPECT_EQ(ws[1].param, "fc.weight");  // behind the fake_quant
  EXPECT_EQ(ws[1].op, "linear");
  EXPECT_EQ(ws[2].scope, "proj");
  EXPECT_EQ(ws[2].input_dim, 0);  // x @ W: input features along dim 0
  EXPECT_EQ(ws[3].scope, "left");
  EXPECT_EQ(ws[3].input_dim, 1);  // W @ x
  EXPECT_EQ(scopes_of(ws), (std::vector<std::string>{"layer1.0.conv1", "fc", "proj", "left"}));
}

TEST(FindWeightLayers, WeightParamOfOneLayer) {
  const ir::Model m = model();
  ASSERT_NE(weight_param(node_of(m, "c2")), nullptr);
  EXPECT_EQ(weight_param(node_of(m, "c2"))->attrs().s("name"), "conv1.weight");
  ASSERT_NE(weight_param(node_of(m, "y")), nullptr);
  EXPECT_EQ(weight_param(node_of(m, "y"))->attrs().s("name"), "fc.weight");
  EXPECT_EQ(weight_param(node_of(m, "l"))->attrs().s("name"), "left.weight");
  EXPECT_EQ(weight_param(node_of(m, "b")), nullptr);   // 3-d operand
  EXPECT_EQ(weight_param(node_of(m, "mm")), nullptr);  // two activations
  EXPECT_EQ(weight_param(node_of(m, "r")), nullptr);
  EXPECT_EQ(weight_param(node_of(m, "wf")), nullptr);
}

TEST(FindWeightLayers, NodeScopesAreDistinctInGraphOrder) {
  const std::vector<std::string> s = node_scopes(model());
  EXPECT_EQ(s, (std::vector<std::string>{"layer1.0.conv1", "layer1.0.conv2", "flatten", "fc", "proj", "left", "batched",
                                          "square", "relu"}));
}

TEST(ParseScopeGlobs, KeepsLocationsAndReportsBadEntries) {
  const recipe::ConfigNode root = recipe::parse_yaml(
      "exclude:\n  - conv1\n  - \"layer[1\"\n  - {a: b}\n  - \"layer3.*\"\n  - \"\"\n", "r.yaml");
  recipe::Diagnostics diag;
  const std::vector<ScopeGlob> globs = parse_scope_globs(*root.find("exclude"), "prune.exclude", diag);
  ASSERT_EQ(globs.size(), 2u);
  EXPECT_EQ(globs[0].pattern, "conv1");
  EXPECT_EQ(globs[0].loc.str(), "r.yaml:2:5");
  EXPECT_EQ(globs[1].pattern, "layer3.*");
  EXPECT_EQ(globs[1].loc.line, 5);
  ASSERT_EQ(diag.errors().size(), 3u);
  EXPECT_NE(diag.errors()[0].find("r.yaml:3:5"), std::string::npos) << diag.errors()[0];
  EXPECT_NE(diag.errors()[0].find("'prune.exclude' glob 'layer[1': '[' at column 6 has no closing ']'"),
            std::string::npos)
      << diag.errors()[0];
  EXPECT_NE(diag.errors()[1].find("r.yaml:4:"), std::string::npos) << diag.errors()[1];
  EXPECT_NE(diag.errors()[1].find("entries must be scope globs"), std::string::npos) << diag.errors()[1];
  EXPECT_NE(diag.errors()[2].find("r.yaml:6:"), std::string::npos) << diag.errors()[2];
}

TEST(ParseScopeGlobs, NullIsEmptyScalarIsOneMapIsAnError) {
  recipe::Diagnostics diag;
  EXPECT_TRUE(parse_scope_globs(recipe::ConfigNode(), "k", diag).empty());
  const recipe::ConfigNode root = recipe::parse_yaml("a: fc\nb: {x: y}\n", "r.yaml");
  const std::vector<ScopeGlob> one = parse_scope_globs(*root.find("a"), "k", diag);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].pattern, "fc");
  EXPECT_TRUE(diag.ok());
  EXPECT_TRUE(parse_scope_globs(*root.find("b"), "stage.exclude", diag).empty());
  ASSERT_EQ(diag.errors().size(), 1u);
  EXPECT_NE(diag.errors()[0].find("r.yaml:2:4: 'stage.exclude' must be a list of scope globs"), std::string::npos)
      << diag.errors()[0];
}

TEST(ParseGlobMap, OrderedEntriesWithKeyLocationsAndCallerParsedValues) {
  const recipe::ConfigNode root = recipe::parse_yaml(
      "layers:\n  \"*\": 1\n  \"layer3.*\": 2\n  fc: x\n  \"b[\": 4\n  layer3.0: 5\n", "r.yaml");
  recipe::Diagnostics diag;
  const GlobValueParser<double> number = [](const recipe::ConfigNode& v, double& out, recipe::Diagnostics& d) {
    if (recipe::parse_number(v.value(), &out).empty()) return true;
    d.error(v.loc(), "not a number");
    return false;
  };
  const auto entries = parse_glob_map(*root.find("layers"), "lowrank.layers", diag, number);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].glob.pattern, "*");
  EXPECT_EQ(entries[0].glob.loc.line, 2);
  EXPECT_EQ(entries[1].glob.pattern, "layer3.*");
  EXPECT_EQ(entries[1].glob.loc.str(), "r.yaml:3:3");  // the key's location
  EXPECT_EQ(entries[1].value, 2.0);
  EXPECT_EQ(entries[2].glob.pattern, "layer3.0");
  ASSERT_EQ(diag.errors().size(), 2u);  // the globs are checked before any value is parsed
  EXPECT_NE(diag.errors()[0].find("r.yaml:5:3: 'lowrank.layers' glob 'b['"), std::string::npos) << diag.errors()[0];
  EXPECT_NE(diag.errors()[1].find("r.yaml:4:7: not a number"), std::string::npos) << diag.errors()[1];

  // Later entries win.
  EXPECT_EQ(last_match(entries, "layer3.0.conv1"), 2);
  EXPECT_EQ(last_match(entries, "layer3.1.conv1"), 1);
  EXPECT_EQ(last_match(entries, "fc"), 0);
  EXPECT_EQ(last_match(std::vector<GlobEntry<double>>(entries.begin() + 1, entries.end()), "fc"), -1);
}

TEST(ParseGlobMap, EntryParserSeesTheGlobAndNonMapsAreErrors) {
  const recipe::ConfigNode root = recipe::parse_yaml("layers: {fc: 3}\nbad: [fc]\n", "r.yaml");
  recipe::Diagnostics diag;
  const GlobEntryParser<std::string> keyed = [](const ScopeGlob& g, const recipe::ConfigNode& v, std::string& out,
                                                recipe::Diagnostics&) {
    out = g.pattern + "=" + v.value();
    return true;
  };
  const auto entries = parse_glob_map(*root.find("layers"), "k", diag, keyed);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].value, "fc=3");
  EXPECT_TRUE(parse_glob_map(recipe::ConfigNode(), "k", diag, keyed).empty());
  EXPECT_TRUE(diag.ok());
  EXPECT_TRUE(parse_glob_map(*root.find("bad"), "x.layers", diag, keyed, "ranks, e.g. {fc: 8}").empty());
  ASSERT_EQ(diag.errors().size(), 1u);
  EXPECT_NE(diag.errors()[0].find("r.yaml:2:6: 'x.layers' must be a map from scope glob to ranks, e.g. {fc: 8}"),
            std::string::npos)
      << diag.errors()[0];
}

TEST(SelectLayers, IncludeThenExcludeInModelOrder) {
  const auto all = layers({"conv1", "layer1.0.conv1", "layer1.0.conv2", "layer10.conv", "fc"});
  EXPECT_EQ(scopes_of(select_layers(all, {}, {}, "s")), scopes_of(all));
  EXPECT_EQ(scopes_of(select_layers(all, {{"fc", {}}, {"layer1", {}}}, {{"*conv2", {}}}, "s")),
            (std::vector<std::string>{"layer1.0.conv1", "fc"}));
  EXPECT_EQ(scopes_of(select_layers(all, {}, {{"layer1", {}}, {"fc", {}}}, "s")),
            (std::vector<std::string>{"conv1", "layer10.conv"}));
}

TEST(SelectLayers, GlobMatchingNothingNamesItsLocationAndListsTheScopes) {
  const auto all = layers({"conv1", "layer1.0.conv1", "fc"});
  const std::string msg = input_error([&] {
    select_layers(all, {}, {{"conv1", {"r.yaml", 3, 14}}, {"layer9.*", {"r.yaml", 3, 21}}}, "prune", "prunable layer");
  });
  EXPECT_EQ(msg, "r.yaml:3:21: prune: exclude glob 'layer9.*' matches no prunable layer; prunable layers are: conv1, "
                 "layer1.0.conv1, fc. Fix the glob or remove it.");
  const std::string inc = input_error([&] { select_layers(all, {{"conv", {"r.yaml", 2, 5}}}, {}, "lowrank"); });
  EXPECT_NE(inc.find("r.yaml:2:5: lowrank: layers glob 'conv' matches no weight layer"), std::string::npos) << inc;
}

TEST(SelectLayers, LongCandidateListsAreCapped) {
  std::vector<std::string> scopes;
  for (int i = 0; i < 13; ++i) scopes.push_back("l" + std::to_string(i));
  const std::string msg =
      input_error([&] { require_matches({{"x", {"r.yaml", 1, 1}}}, scopes, "st", "k", "layer", " Hint."); });
  EXPECT_NE(msg.find("layers are: l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, ... (13 in all). Fix the glob or "
                     "remove it. Hint."),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("l12"), std::string::npos) << msg;
}

TEST(SelectLayers, EmptyResultIsAnErrorAtTheFirstGlob) {
  const auto all = layers({"conv1", "fc"});
  const std::string excluded =
      input_error([&] { select_layers(all, {}, {{"conv1", {"r.yaml", 4, 2}}, {"fc", {"r.yaml", 4, 9}}}, "prune"); });
  EXPECT_NE(excluded.find("r.yaml:4:2: prune: the exclude globs leave no weight layer"), std::string::npos) << excluded;
  const std::string both =
      input_error([&] { select_layers(all, {{"fc", {"r.yaml", 5, 3}}}, {{"f?", {"r.yaml", 6, 3}}}, "lowrank"); });
  EXPECT_NE(both.find("r.yaml:5:3: lowrank: every weight layer the layers globs select is excluded"), std::string::npos)
      << both;
  const std::string none = input_error([&] { select_layers({}, {}, {}, "prune", "prunable layer"); });
  EXPECT_NE(none.find("prune: the model has no prunable layer"), std::string::npos) << none;
}

}  // namespace
}  // namespace mc::pipeline
