// The pieces of `compress auto` that need no trial run: the auto section's errors, the knob table's
// stages, the ranking of sweep rows into moves, the Pareto front and the choice of the best trial.
#include <gtest/gtest.h>

#include "common/error.h"
#include "frontend/frontend.h"
#include "pipeline/layer_sweep.h"
#include "recipe/recipe.h"
#include "search/auto_options.h"
#include "search/knobs.h"
#include "search/moves.h"
#include "search/search_files.h"
#include "search/trial.h"
#include "support/test_env.h"

using namespace mc;
using namespace mc::search;

namespace {

TrialResult trial(int64_t index, Config config, double objective, double top1, std::string status = "done") {
  TrialResult t;
  t.index = index;
  t.config = std::move(config);
  t.objective = objective;
  t.top1 = top1;
  t.status = std::move(status);
  return t;
}

pipeline::SweepRow row(const std::string& knob, const std::string& layer, const std::string& setting, double top1,
                       int64_t macs, int64_t bytes, bool ok = true) {
  pipeline::SweepRow r;
  r.candidate.knob = knob;
  r.candidate.layer = layer;
  r.candidate.setting = setting;
  r.ok = ok;
  r.top1 = top1;
  r.macs = macs;
  r.bytes_stored = bytes;
  return r;
}

}  // namespace

TEST(AutoSearch, ParetoFrontKeepsTheUndominatedTrialsByObjective) {
  std::vector<TrialResult> t = {trial(0, {}, 10.0, 0.92), trial(1, {{"a", "x", "1"}}, 6.0, 0.91),
                                trial(2, {{"a", "y", "1"}}, 7.0, 0.90),  // dominated by 1
                                trial(3, {{"a", "z", "1"}}, 4.0, 0.85), trial(4, {{"b", "z", "1"}}, 1.0, 0.0, "failed")};
  EXPECT_EQ(pareto_front(t), (std::vector<size_t>{3, 1, 0}));
}

TEST(AutoSearch, BestIsTheLowestObjectiveWithinTheConstraintElseTheClosest) {
  AutoOptions o;
  o.max_loss = 1.0;  // points: tolerated top-1 0.91
  std::vector<TrialResult> t = {trial(0, {}, 10.0, 0.92), trial(1, {{"a", "x", "1"}}, 6.0, 0.915),
                                trial(2, {{"a", "y", "1"}}, 5.0, 0.912), trial(3, {{"a", "z", "1"}}, 3.0, 0.80)};
  auto b = choose_best(t, o);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->index, 2u);
  EXPECT_TRUE(b->met);
  EXPECT_EQ(b->miss, 0.0);

  o.max_loss = 0.1;  // tolerated 0.919: no compressed trial meets it; trial 1 is closest (0.4 points short)
  b = choose_best(t, o);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->index, 1u);
  EXPECT_FALSE(b->met);
  EXPECT_NEAR(b->miss, 0.4, 1e-9);

  o.loss = "relative";
  o.max_loss = 5.0;  // 5 % of 0.92: tolerated 0.874
  EXPECT_NEAR(o.min_top1(0.92), 0.874, 1e-12);
  b = choose_best(t, o);
  EXPECT_EQ(b->index, 2u);

  std::vector<TrialResult> only_base = {trial(0, {}, 10.0, 0.92), trial(1, {{"a", "x", "1"}}, 0, 0, "failed")};
  b = choose_best(only_base, o);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->index, 0u);
  EXPECT_FALSE(b->compressed);
  EXPECT_FALSE(choose_best({trial(1, {{"a", "x", "1"}}, 6.0, 0.9)}, o));  // no baseline: no reference
}

TEST(AutoSearch, MovesAreRankedByGainPerTopOneLostAndExcludeWhatSavesNothing) {
  AutoOptions o;
  o.objective = "macs";
  pipeline::SweepBaseline base{0.90, 1000, 400, 100, 100};
  std::vector<pipeline::SweepRow> rows = {
      row("prune_channels", "l1", "0.5", 0.89, 800, 300),   // 200 MACs for 1 point: 200 / 0.01
      row("prune_channels", "l2", "0.5", 0.90, 900, 350),   // 100 MACs for nothing: 100 / (1 image = 0.01)
      row("prune_channels", "l3", "0.5", 0.80, 500, 200),   // 500 MACs for 10 points
      row("prune_channels", "l4", "0.5", 0.90, 1000, 400),  // saves nothing
      row("prune_channels", "l5", "0.5", 0.90, 10, 10, false),
      row("quantize", "l1", "8", 0.90, 1000, 100)};         // bytes only
  auto ranked = rank_moves(rows, base, o);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0].move.layer, "l1");
  EXPECT_EQ(ranked[1].move.layer, "l2");
  EXPECT_EQ(ranked[2].move.layer, "l3");
  EXPECT_DOUBLE_EQ(ranked[0].gain, 200);
  EXPECT_NEAR(ranked[0].drop, 0.01, 1e-12);

  o.objective = "bytes";
  ranked = rank_moves(rows, base, o);
  ASSERT_EQ(ranked.size(), 4u);
  EXPECT_EQ(ranked[0].move.knob, "quantize");  // 300 bytes for nothing

  o.objective = "ort_latency";  // MACs rank; quantize (integer kernels) is left to a whole-model trial
  ranked = rank_moves(rows, base, o);
  for (const auto& m : ranked) EXPECT_NE(m.move.knob, "quantize");
  EXPECT_EQ(kernel_moves(rows, base, 0.005), (std::vector<Move>{{"quantize", "l1", "8"}}));
  EXPECT_TRUE(kernel_moves({row("quantize", "l1", "8", 0.80, 1000, 100)}, base, 0.005).empty());
}

TEST(AutoSearch, UnderOrtLatencyTheSweepsMeasuredMillisecondsRankTheMovesNotTheirMacs) {
  AutoOptions o;
  o.objective = "ort_latency";
  pipeline::SweepBaseline base{0.90, 1000, 400, 100, 100, 10.0};  // 10 ms in ONNX Runtime
  std::vector<pipeline::SweepRow> rows = {
      row("decompose", "l1", "0.25", 0.89, 400, 300),    // 600 MACs, but 3 convolutions: 9.5 ms
      row("prune_blocks", "b1", "remove", 0.89, 700, 300),  // 300 MACs, a whole block: 6 ms
      row("prune_channels", "l2", "0.5", 0.89, 900, 300)};  // 100 MACs, slower (padding): 10.5 ms
  rows[0].cost = 9.5;
  rows[1].cost = 6.0;
  rows[2].cost = 10.5;
  auto ranked = rank_moves(rows, base, o);
  ASSERT_EQ(ranked.size(), 2u);  // the move that costs time is left out
  EXPECT_EQ(ranked[0].move.knob, "prune_blocks");
  EXPECT_DOUBLE_EQ(ranked[0].gain, 4.0);
  EXPECT_EQ(ranked[1].move.knob, "decompose");
  EXPECT_DOUBLE_EQ(ranked[1].gain, 0.5);
  // without the probe (auto.sweep_latency: false, or a sweep of the macs objective): MACs rank
  for (auto& r : rows) r.cost = 0;
  ranked = rank_moves(rows, base, o);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0].move.knob, "decompose");
  EXPECT_DOUBLE_EQ(ranked[0].gain, 600);
}

TEST(AutoSearch, PrefixConfigKeepsOneSettingPerLayerAndDropsLayersOfRemovedBlocks) {
  std::vector<RankedMove> ranked = {{{"prune_channels", "layer1.0.conv1", "0.25"}, 10, 0, 0},
                                    {{"prune_channels", "layer2.0.conv1", "0.5"}, 30, 0, 0},
                                    {{"prune_channels", "layer1.0.conv1", "0.75"}, 40, 0, 0},
                                    {{"prune_blocks", "layer1.0", "remove"}, 50, 0, 0}};
  EXPECT_EQ(prefix_config(ranked, 1), (Config{{"prune_channels", "layer1.0.conv1", "0.25"}}));
  EXPECT_EQ(prefix_config(ranked, 3), (Config{{"prune_channels", "layer1.0.conv1", "0.75"},
                                              {"prune_channels", "layer2.0.conv1", "0.5"}}));
  EXPECT_EQ(prefix_config(ranked, 4),
            (Config{{"prune_blocks", "layer1.0", "remove"}, {"prune_channels", "layer2.0.conv1", "0.5"}}));
  EXPECT_EQ(config_key(prefix_config(ranked, 4)), config_key(with_move(prefix_config(ranked, 2), ranked[3].move)));
  EXPECT_EQ(config_key({}), "baseline");
}

TEST(AutoSearch, KnobTableTargetsAndStagesOnResnet8) {
  const ir::Model m = frontend::load_model("zoo:resnet8", {ir::TensorType(ir::DType::f32, {1, 1, 28, 28})});
  const Knob* blocks = find_knob("prune_blocks");
  ASSERT_TRUE(blocks);
  EXPECT_EQ(blocks->targets(m), (std::vector<std::string>{"layer1.0", "layer2.0", "layer3.0"}));
  const Knob* ch = find_knob("prune_channels");
  const std::vector<std::string> present = {"conv1", "layer1.0.conv1", "fc"};
  AutoOptions o;
  auto s = ch->stages({{"layer1.0.conv1", "0.5"}, {"fc", "0.25"}, {"gone.conv", "0.5"}}, present, o);
  ASSERT_EQ(s.size(), 2u);  // one stage per ratio; a layer not present is left out
  EXPECT_EQ(s[0].name, "prune_channels");
  EXPECT_NE(s[0].options.to_yaml().find("0.25"), std::string::npos);
  EXPECT_NE(s[0].options.to_yaml().find("round_to: 16"), std::string::npos);
  EXPECT_NE(s[1].options.to_yaml().find("exclude: [\"conv1\", \"fc\"]"), std::string::npos) << s[1].options.to_yaml();
  const Knob* q = find_knob("quantize");
  auto qs = q->stages({{"fc", "4"}, {"conv1", "8"}}, present, o);
  ASSERT_EQ(qs.size(), 1u);
  const std::string y = qs[0].options.to_yaml();
  EXPECT_NE(y.find("exclude: [\"layer1.0.conv1\"]"), std::string::npos) << y;
  const recipe::ConfigNode* fc = qs[0].options.find("layers") ? qs[0].options.find("layers")->find("fc") : nullptr;
  ASSERT_TRUE(fc && fc->find("weights") && fc->find("weights")->find("bits")) << y;
  EXPECT_EQ(fc->find("weights")->find("bits")->value(), "4");
  EXPECT_EQ(qs[0].options.find("layers")->find("conv1"), nullptr) << "8 bits is the stage default: " << y;
  // affine uint8 activations: what ONNX Runtime on x86 runs in integer end to end
  const recipe::ConfigNode* act = qs[0].options.find("activations");
  ASSERT_TRUE(act && act->find("dtype") && act->find("qscheme")) << y;
  EXPECT_EQ(act->find("dtype")->value(), "quint8");
  EXPECT_EQ(act->find("qscheme")->value(), "per_tensor_affine");
  EXPECT_FALSE(find_knob("prune_everything"));
}

TEST(AutoSearch, TrialRecipeOrdersTheKnobsStagesAroundTheFinetune) {
  test::TempDir dir;
  const std::string path = dir.write("r.yaml", R"(name: t
model: {zoo: resnet8}
data:
  val: {dataset: fashion_mnist, limit: 64}
auto: {objective: ort_latency, batch: 8, finetune_epochs: 2, finetune: {max_steps_per_epoch: 3}}
)");
  recipe::Diagnostics diag;
  const recipe::Recipe r = recipe::load_recipe(path, {}, diag);
  ASSERT_TRUE(diag.ok()) << diag.errors().front();
  const AutoOptions o = read_auto_options(r);
  const ir::Model m = frontend::load_model("zoo:resnet8", {ir::TensorType(ir::DType::f32, {1, 1, 28, 28})});
  const Config c = {{"quantize", "fc", "8"}, {"prune_channels", "layer2.0.conv1", "0.5"}, {"prune_blocks", "layer1.0", "remove"},
                    {"prune_channels", "layer1.0.conv1", "0.5"}};
  const recipe::ConfigNode t = trial_recipe(r, o, m, c, "t_t001");
  const recipe::ConfigNode* stages = t.find("stages");
  ASSERT_TRUE(stages && stages->is_seq());
  std::vector<std::string> names;
  for (const auto& s : stages->items()) names.push_back(s.entries()[0].first);
  EXPECT_EQ(names, (std::vector<std::string>{"prune_blocks", "prune_channels", "finetune", "quantize", "save", "export"}));
  const std::string y = t.to_yaml();
  // layer1.0's layers are gone after prune_blocks: no later exclude list names them
  EXPECT_EQ(y.find("\"layer1.0.conv2\""), std::string::npos) << y;
  EXPECT_EQ(y.find("layer1.0.conv2"), std::string::npos) << y;
  EXPECT_NE(y.find("epochs: 2"), std::string::npos);
  EXPECT_NE(y.find("max_steps_per_epoch: 3"), std::string::npos);
  EXPECT_NE(y.find("ort_latency_batches: [8]"), std::string::npos) << y;
  EXPECT_EQ(t.find("auto"), nullptr);
  // the baseline: the model as loaded, no fine-tune
  names.clear();
  const recipe::ConfigNode base = trial_recipe(r, o, m, {}, "t_t000");
  for (const auto& s : base.find("stages")->items()) names.push_back(s.entries()[0].first);
  EXPECT_EQ(names, (std::vector<std::string>{"save", "export"}));
}

TEST(AutoSearch, BadAutoSectionsAreRecipeErrorsAtTheirLocation) {
  test::TempDir dir;
  struct Case {
    const char* auto_text;
    const char* expect;
  } cases[] = {
      {"{objective: speed}", "r.yaml:4:19"},
      {"{objective: macs, max_los: 1}", "max_los"},
      {"{knobs: [prune_channels, prune_chanels]}", "did you mean 'prune_channels'"},
      {"{finetune: {epochs: 3}}", "auto.finetune_epochs"},
      {"{max_loss: -1}", "r.yaml:4:18"},
      {"{loss: relative, max_loss: 100}", "below 100"},
      {"{trials: 0}", "r.yaml:4:16"},
      {"{sweep_bn_batches: -1}", "r.yaml:4:26"},
      {"{sweep_bn_batches: eight}", "r.yaml:4:26"},
      {"{sweep_finetune_steps: -3}", "r.yaml:4:30"},
  };
  for (const Case& c : cases) {  // in process: what `compress auto` and `compress validate` read
    const std::string path = dir.write("r.yaml", std::string("name: t\nmodel: {zoo: resnet8}\ndata: {val: {dataset: fashion_mnist}}\nauto: ") +
                                                     c.auto_text + "\n");
    recipe::Diagnostics diag;
    const recipe::Recipe r = recipe::load_recipe(path, {}, diag);
    ASSERT_TRUE(diag.ok()) << c.auto_text;
    try {
      read_auto_options(r);
      ADD_FAILURE() << c.auto_text << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << c.auto_text << ": " << e.what();
    }
  }
  // Through the command: exit code 2, the location, and no search directory written.
  const std::string path = dir.write("r.yaml", "name: t\nmodel: {zoo: resnet8}\ndata: {val: {dataset: fashion_mnist}}\n"
                                               "auto: {objective: speed}\n");
  auto bad = test::run_compress("auto " + path + " --out " + dir.file("out"));
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("r.yaml:4:19"), std::string::npos) << bad.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out")));
  // BatchNorm re-estimation without data.train: at the key (or the auto section), exit 2
  const std::string no_train = dir.write("n.yaml", "name: t\nmodel: {zoo: resnet8}\ndata: {val: {dataset: fashion_mnist}}\n"
                                                   "auto: {objective: macs, sweep_bn_batches: 4}\n");
  auto nt = test::run_compress("auto " + no_train + " --out " + dir.file("out_nt"));
  EXPECT_EQ(nt.exit_code, 2) << nt.out;
  EXPECT_NE(nt.out.find("n.yaml:4:43: compress auto re-estimates BatchNorm statistics on data.train"), std::string::npos)
      << nt.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out_nt")));
  // the sweep's recovery fine-tune without data.train: at its key
  const std::string no_train_ft = dir.write(
      "f.yaml", "name: t\nmodel: {zoo: resnet8}\ndata: {val: {dataset: fashion_mnist}}\n"
                "auto: {objective: macs, sweep_bn_batches: 0, sweep_finetune_steps: 5}\n");
  auto nf = test::run_compress("auto " + no_train_ft + " --out " + dir.file("out_nf"));
  EXPECT_EQ(nf.exit_code, 2) << nf.out;
  EXPECT_NE(nf.out.find("f.yaml:4:68: compress auto fine-tunes each move of its sweep on data.train"), std::string::npos)
      << nf.out;
  EXPECT_EQ(nf.out.find("BatchNorm"), std::string::npos) << nf.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out_nf")));
  // no auto section at all
  const std::string plain = dir.write("p.yaml", "name: t\nmodel: {zoo: resnet8}\nstages: [evaluate]\n");
  auto res = test::run_compress("auto " + plain);
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.out.find("p.yaml:1:1: the recipe has no 'auto:' section"), std::string::npos) << res.out;
}

TEST(AutoSearch, SweepFileIsReusedOnlyWhenMeasuredTheSameWay) {
  const std::vector<pipeline::SweepCandidate> candidates = {
      {"prune_blocks", "layer1.0", "remove", "prune_blocks", recipe::parse_yaml("{blocks: [layer1.0]}", "<test>")}};
  std::vector<pipeline::SweepRow> rows = {row("prune_blocks", "layer1.0", "remove", 0.8, 900, 400)};
  rows[0].candidate = candidates[0];
  rows[0].bn_seconds = 0.25;
  rows[0].top1_before_recovery = 0.4;
  rows[0].recovery_seconds = 1.5;
  const pipeline::SweepBaseline base{0.90, 1000, 400, 100, 100};
  const nlohmann::json settings = {{"bn_batches", 8}, {"finetune_steps", 30}, {"finetune", "{epochs: 1}"}};
  const nlohmann::json j = sweep_to_json(base, rows, settings);
  pipeline::SweepBaseline b2;
  std::vector<pipeline::SweepRow> r2;
  ASSERT_TRUE(sweep_from_json(j, candidates, settings, b2, r2));
  EXPECT_DOUBLE_EQ(r2.at(0).top1, 0.8);
  EXPECT_DOUBLE_EQ(r2.at(0).bn_seconds, 0.25);
  EXPECT_DOUBLE_EQ(r2.at(0).top1_before_recovery, 0.4);
  EXPECT_DOUBLE_EQ(r2.at(0).recovery_seconds, 1.5);
  // measured with another recalibration, recovery length or fine-tune: measured again
  for (const char* key : {"bn_batches", "finetune_steps"}) {
    nlohmann::json other = settings;
    other[key] = 0;
    EXPECT_FALSE(sweep_from_json(j, candidates, other, b2, r2)) << key;
    EXPECT_FALSE(sweep_from_json(sweep_to_json(base, rows, other), candidates, settings, b2, r2)) << key;
  }
  nlohmann::json other_ft = settings;
  other_ft["finetune"] = "{epochs: 1, optimizer: {lr: 0.1}}";
  EXPECT_FALSE(sweep_from_json(j, candidates, other_ft, b2, r2));
  // a sweep.json of an earlier version (no settings) is measured again
  nlohmann::json old = j;
  old.erase("settings");
  EXPECT_FALSE(sweep_from_json(old, candidates, settings, b2, r2));
}
