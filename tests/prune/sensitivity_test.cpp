// The `sensitivity` stage on the trained resnet8: the full layer x ratio table, ratio 0 equal to
// the unpruned accuracy, more damage at 0.9 than at 0.1, an SVG that parses as XML, the model
// unchanged.
#include "pruning/sensitivity.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/atomic_file.h"
#include "prune_test_util.h"

using namespace mc;
using mc::test::prune_recipe;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;
using mc::test::write_text;

TEST(SensitivityStage, TableChartAndUnchangedModel) {
  TempDir d;
  std::string recipe = write_text(
      d, "r.yaml", prune_recipe("  - sensitivity: {ratios: [0, 0.1, 0.5, 0.9], limit: 1000, exclude: [fc]}\n", 1000));
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = read_json(d.file("run/sensitivity.json"));
  auto rep = read_json(d.file("run/report.json"));
  const double baseline = j["baseline_top1"].get<double>();
  EXPECT_DOUBLE_EQ(baseline, rep["stages"][0]["metrics"]["top1"].get<double>());  // same 1000 samples
  ASSERT_EQ(j["ratios"].size(), 4u);
  ASSERT_EQ(j["layers"].size(), 9u);  // 9 convs, fc excluded
  int lower_at_high_ratio = 0;
  for (auto& row : j["layers"]) {
    ASSERT_EQ(row["top1"].size(), 4u);
    EXPECT_DOUBLE_EQ(row["top1"][0].get<double>(), baseline) << row["scope"];
    lower_at_high_ratio += row["top1"][3].get<double>() <= row["top1"][1].get<double>();
  }
  EXPECT_GE(lower_at_high_ratio, 7);
  EXPECT_EQ(rep["stages"][1]["details"]["sensitivity"], j);

  // The model is what was loaded.
  ir::Model original = ir::Model::load(mc::test::resnet8_fixture());
  ir::Model after = ir::Model::load(d.file("run/ckpt/01_sensitivity.mcm"));
  for (auto& [name, t] : original.tensors) EXPECT_TRUE(t.equal(after.tensor(name))) << name;

  std::string csv = mc::read_file(d.file("run/sensitivity.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 10);
  EXPECT_EQ(csv.rfind("layer,param,numel,0,0.1,0.5,0.9\n", 0), 0u) << csv;

  // The chart is well-formed XML with one line per layer (checked by Python's parser).
  auto x = mc::test::run_command(
      "/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
      "print(len(r.findall('{http://www.w3.org/2000/svg}polyline')))\" " + d.file("run/sensitivity.svg"));
  ASSERT_EQ(x.exit_code, 0) << x.out;
  EXPECT_EQ(x.out, "9\n");
}

TEST(SensitivitySvg, EscapesScopesAndParses) {
  prune::SensitivityTable t;
  t.baseline_top1 = 0.9;
  t.ratios = {0.2, 0.8};
  t.layers = {{"a<&>\"b", "conv2d", "w", 1}};
  t.numel = {10};
  t.top1 = {{0.85, 0.4}};
  std::string svg = prune::sensitivity_svg(t);
  EXPECT_NE(svg.find("a&lt;&amp;&gt;&quot;b"), std::string::npos);
  TempDir d;
  std::string p = write_text(d, "c.svg", svg);
  auto x = mc::test::run_command("/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])\" " + p);
  EXPECT_EQ(x.exit_code, 0) << x.out;
}

TEST(SensitivityOptions, RatiosOutOfRangeOrUnordered) {
  TempDir d;
  for (const char* stage : {"  - sensitivity: {ratios: [0.1, 1.2]}\n", "  - sensitivity: {ratios: [0.5, 0.1]}\n"}) {
    auto r = run_compress("validate " + write_text(d, "r.yaml", prune_recipe(stage)));
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find("r.yaml:9:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("sensitivity.ratios"), std::string::npos) << r.out;
  }
}
