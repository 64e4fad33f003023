// report.html (Report::to_html) and the comparison page (compare_html, read_run_report): which
// charts exist for which stage records (only what the stages recorded), their marks against the
// records, escaping of layer names, and the errors for bad run directories.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "report/compare.h"
#include "report/report.h"
#include "support/test_env.h"

namespace mc::report {
namespace {

using nlohmann::json;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

/// The <svg> element with this id ("" when absent).
std::string chart(const std::string& page, const std::string& id) {
  const size_t p = page.find("id=\"" + id + "\"");
  if (p == std::string::npos) return "";
  const size_t open = page.rfind("<svg", p);
  return page.substr(open, page.find("</svg>", p) + 6 - open);
}

LayerRow row(const std::string& scope, const std::string& op, int64_t params, int64_t nonzero, int64_t macs, int bits) {
  return LayerRow{scope, op, {1, 4}, params, nonzero, macs, bits};
}

Metrics metrics(double top1, int64_t bytes, int64_t macs, double ms1, std::vector<LayerRow> layers) {
  Metrics m;
  m.top1 = top1;
  m.params = m.nonzero_params = 1000;
  m.macs = macs;
  m.bytes_fp32 = 4000;
  m.bytes_stored = bytes;
  m.latency_ms = {{1, ms1}, {64, ms1 * 20}};
  m.layers = std::move(layers);
  return m;
}

const std::string kOdd = "blk<1>&\"x\"";  // a scope that would break the page unescaped

// load (dense) -> prune -> quantize (8-bit weights) -> export with ONNX Runtime's top-1.
Report pruned_quantized() {
  Report r;
  r.recipe_name = "html<test>";
  r.created_at = "2026-01-01T00:00:00Z";
  r.tool_version = "0.1.0";
  auto dense = [](int bits, int64_t nz) {
    return std::vector<LayerRow>{row("conv1", "conv2d", 144, 144, 1000, 32), row("bn1", "batch_norm", 32, 32, 50, 32),
                                 row(kOdd, "fake_quant", 512, nz, 0, bits), row(kOdd, "conv2d", 16, 16, 4000, 32),
                                 row("fc", "linear", 650, 650, 640, 32)};
  };
  r.stages.push_back({0, "load", "done", 0.1, metrics(0.90, 4000, 5690, 0.5, dense(32, 512)), json::object()});
  r.stages.push_back({1, "prune", "done", 0.2, metrics(0.88, 4000, 5690, 0.5, dense(32, 128)),
                      json{{"layers", json::array({json{{"scope", kOdd}, {"sparsity", 0.75}}})}}});
  r.stages.push_back({2, "quantize", "done", 0.3, metrics(0.87, 1200, 5690, 0.4, dense(8, 128)), json::object()});
  r.stages.push_back({3, "export", "done", 1.0, metrics(0.87, 1200, 5690, 0.4, dense(8, 128)),
                      json{{"onnx", "/tmp/m.onnx"},
                           {"bytes", 3000},
                           {"ort_eval", json{{"status", "done"}, {"top1_ort", 0.865}, {"top1_ours", 0.87}}}}});
  r.stages.push_back({4, "check_tensorrt", "failed", 0.0, Metrics{}, json::object()});
  return r;
}

TEST(Html, StageChartsHaveOneBarPerMeasuredStage) {
  const std::string page = pruned_quantized().to_html();
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(page, "<script"), 0u);
  EXPECT_EQ(count(page, "http://") - count(page, "http://www.w3.org/2000/svg"), 0u);  // nothing fetched
  // Top-1: ours for the 4 done stages, ONNX Runtime for the export; none for the failed stage.
  const std::string top1 = chart(page, "chart-top1");
  ASSERT_FALSE(top1.empty());
  EXPECT_EQ(count(top1, "<rect class=\"bar\""), 5u);
  EXPECT_NE(top1.find("3 export \xE2\x80\x94 ONNX Runtime (exported file): 86.5%"), std::string::npos);
  EXPECT_EQ(count(chart(page, "chart-size"), "<rect class=\"bar\""), 5u);  // 4 stored + 1 ONNX file
  EXPECT_EQ(count(chart(page, "chart-macs"), "<rect class=\"bar\""), 4u);
  EXPECT_EQ(count(chart(page, "chart-latency-b1"), "<rect class=\"bar\""), 4u);
  EXPECT_EQ(count(chart(page, "chart-latency-b64"), "<rect class=\"bar\""), 4u);
  // The summary table: a row per stage, ONNX Runtime's column.
  EXPECT_NE(page.find("<th>Top-1 ONNX Runtime</th>"), std::string::npos);
  EXPECT_EQ(count(page, "<tr>") - 1, 4u);  // the failed stage's row is marked
  EXPECT_EQ(count(page, "<tr class=\"failed\">"), 1u);
  EXPECT_NE(page.find("86.50%"), std::string::npos);
}

TEST(Html, LayerChartsFollowWhatTheStagesRecorded) {
  const std::string page = pruned_quantized().to_html();
  // Weight layers: conv1, the odd scope, fc (bn1 is not one). Only the odd scope is 8-bit / sparse.
  const std::string bits = chart(page, "chart-layer-bits");
  ASSERT_FALSE(bits.empty());
  EXPECT_EQ(count(bits, "<rect class=\"bar\""), 3u);
  EXPECT_NE(bits.find(": 8</title>"), std::string::npos);
  const std::string sp = chart(page, "chart-layer-sparsity");
  ASSERT_FALSE(sp.empty());
  EXPECT_EQ(count(sp, "<rect class=\"bar\""), 3u);
  // The scope's weight rows: fake_quant 512 params (128 non-zero) and the conv's 16 (bias): 1 - 144/528.
  EXPECT_NE(sp.find("&lt;1&gt;&amp;&quot;x&quot;: 72.73%"), std::string::npos);
  // MACs: before (load) and after (export) for the 3 computing scopes.
  const std::string macs = chart(page, "chart-layer-macs");
  EXPECT_EQ(count(macs, "<rect class=\"bar\""), 6u);
  // No decomposition, clustering or sensitivity: no such charts.
  EXPECT_EQ(page.find("chart-layer-rank"), std::string::npos);
  EXPECT_EQ(page.find("chart-layer-clusters"), std::string::npos);
  EXPECT_EQ(page.find("id=\"sensitivity\""), std::string::npos);
}

TEST(Html, DenseFloatModelHasNoBitsOrSparsityChart) {
  Report r = pruned_quantized();
  r.stages.resize(1);
  const std::string page = r.to_html();
  EXPECT_EQ(page.find("chart-layer-bits"), std::string::npos);
  EXPECT_EQ(page.find("chart-layer-sparsity"), std::string::npos);
  const std::string macs = chart(page, "chart-layer-macs");
  EXPECT_EQ(count(macs, "<rect class=\"bar\""), 3u);  // one series: one stage has layers
  EXPECT_TRUE(Report{}.to_html().find("No stages ran.") != std::string::npos);
}

TEST(Html, NamesAreEscapedEverywhere) {
  const std::string page = pruned_quantized().to_html();
  EXPECT_EQ(page.find("blk<1>"), std::string::npos);
  EXPECT_EQ(page.find("html<test>"), std::string::npos);
  EXPECT_NE(page.find("html&lt;test&gt;"), std::string::npos);
  // Stage details as JSON text: the name escaped there too.
  EXPECT_NE(page.find("blk&lt;1&gt;&amp;\\&quot;x\\&quot;"), std::string::npos);
}

TEST(Html, RanksClustersAndSensitivityCurves) {
  Report r = pruned_quantized();
  r.stages.resize(1);
  r.stages.push_back({1, "decompose", "done", 0.1, metrics(0.8, 3000, 3000, 0.3, {}),
                      json{{"layers", json::array({json{{"scope", "conv1"}, {"status", "decomposed"}, {"ranks", {8, 4}}},
                                                   json{{"scope", "fc"}, {"status", "kept_dense"}, {"ranks", {2, 2}}},
                                                   json{{"scope", kOdd}, {"status", "decomposed"}, {"ranks", {3, 5}}}})}}});
  r.stages.push_back({2, "cluster", "done", 0.1, metrics(0.8, 900, 3000, 0.3, {}),
                      json{{"layers", json::array({json{{"scope", "conv1"}, {"k", 16}, {"index_bits", 4}},
                                                   json{{"scope", "fc"}, {"k", 4}, {"index_bits", 2}}})}}});
  r.stages.push_back({3, "sensitivity", "done", 0.1, metrics(0.8, 900, 3000, 0.3, {}),
                      json{{"sensitivity", json{{"baseline_top1", 0.9},
                                                {"ratios", {0.5, 0.7, 0.9}},
                                                {"layers", json::array({json{{"scope", "conv1"}, {"top1", {0.9, 0.8, 0.5}}},
                                                                        json{{"scope", "fc"}, {"top1", {0.9, 0.9, 0.85}}},
                                                                        json{{"scope", "bad"}, {"top1", {0.9}}}})}}}}});
  r.stages.push_back({4, "quantize", "done", 0.1, metrics(0.8, 900, 3000, 0.3, {}),
                      json{{"mixed_precision",
                            json{{"candidates", {8, 4, 2}},
                                 {"layers", json::array({json{{"layer", "conv1"}, {"chosen", true}, {"loss_increase_8", 0.001},
                                                              {"loss_increase_4", 0.01}, {"loss_increase_2", 0.3}},
                                                         json{{"layer", "fc"}, {"chosen", false}, {"loss_increase_8", 0.0}}})}}}}});
  const std::string page = r.to_html();
  const std::string rank = chart(page, "chart-layer-rank-1");
  EXPECT_EQ(count(rank, "<rect class=\"bar\""), 4u);  // 2 decomposed layers x 2 ranks (kept_dense left out)
  EXPECT_NE(rank.find("conv1 \xE2\x80\x94 ranks[1]: 4</title>"), std::string::npos);
  const std::string clusters = chart(page, "chart-layer-clusters-2");
  EXPECT_EQ(count(clusters, "<rect class=\"bar\""), 2u);
  EXPECT_NE(clusters.find("fc: 4</title>"), std::string::npos);
  const std::string sens = chart(page, "chart-sensitivity-3");
  EXPECT_EQ(count(sens, "<polyline class=\"line\""), 2u);  // the row with a wrong length is left out
  EXPECT_EQ(count(sens, "<circle class=\"point\""), 6u);
  EXPECT_NE(sens.find("conv1: 90% \xE2\x86\x92 50%</title>"), std::string::npos);
  const std::string mp = chart(page, "chart-mixed-precision-4");
  EXPECT_EQ(count(mp, "<circle class=\"point\""), 4u);
  EXPECT_NE(mp.find("fc (fixed)"), std::string::npos);
}

TEST(Html, AnalysisChartsHaveABarPerLayerAndFigure) {
  Report r = pruned_quantized();
  r.stages.resize(1);
  json layers = json::array({json{{"rank", 1}, {"layer", "conv1"}, {"sqnr_only_db", 20.5}, {"sqnr_cumulative_db", 20.5},
                                  {"recovery", 0.046}},
                             json{{"rank", 2}, {"layer", kOdd}, {"sqnr_only_db", nullptr}, {"sqnr_cumulative_db", 9.0},
                                  {"recovery", nullptr}, {"note", "weight shape changed"}},
                             json{{"rank", 3}, {"layer", "fc"}, {"sqnr_only_db", "bad"}, {"sqnr_cumulative_db", 7.5},
                                  {"recovery", -0.01}}});
  r.stages.push_back({1, "analyze", "done", 0.1, metrics(0.83, 900, 3000, 0.3, {}),
                      json{{"analysis", json{{"top1_float", 0.89}, {"top1_compressed", 0.83}, {"layers", layers}}}}});
  const std::string page = r.to_html();
  const std::string sqnr = chart(page, "chart-analysis-sqnr-1");
  EXPECT_EQ(count(sqnr, "<rect class=\"bar\""), 4u);  // 3 cumulative + conv1's only (null and a string draw none)
  EXPECT_NE(sqnr.find("conv1 \xE2\x80\x94 only this layer compressed: 20.5 dB</title>"), std::string::npos) << sqnr;
  const std::string top1 = chart(page, "chart-analysis-top1-1");
  EXPECT_EQ(count(top1, "<rect class=\"bar\""), 2u);
  EXPECT_NE(top1.find("fc: -1 pt</title>"), std::string::npos) << top1;
  EXPECT_NE(top1.find("float 89.00%, compressed 83.00%"), std::string::npos);
  EXPECT_EQ(page.find(kOdd), std::string::npos) << "layer names are escaped";
  // report.md: the same rows as a table, figures formatted, missing ones as '-'.
  const std::string md = r.to_markdown();
  EXPECT_NE(md.find("## Which layer breaks accuracy"), std::string::npos);
  EXPECT_NE(md.find("| conv1 "), std::string::npos) << md;
  EXPECT_NE(md.find("+4.60"), std::string::npos) << md;
  EXPECT_NE(md.find("weight shape changed"), std::string::npos) << md;
}

TEST(Html, MalformedDetailsAreLeftOutNotFatal) {
  Report r = pruned_quantized();
  r.stages[1].details = json{{"layers", 5}, {"sensitivity", "x"}, {"mixed_precision", json::array()}, {"ort_eval", 3}};
  r.stages[3].details = json{{"onnx", 7}, {"bytes", "big"}, {"ort_eval", json{{"status", "done"}, {"top1_ort", "?"}}}};
  const std::string page = r.to_html();
  EXPECT_EQ(count(chart(page, "chart-top1"), "<rect class=\"bar\""), 4u);  // ours only
  EXPECT_EQ(count(chart(page, "chart-size"), "<rect class=\"bar\""), 4u);
}

TEST(Html, WriteHtmlFormat) {
  test::TempDir dir;
  pruned_quantized().write(dir.path(), {"json", "html"});
  EXPECT_TRUE(std::filesystem::exists(dir.file("report.html")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("report.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("report.md")));
  EXPECT_EQ(Report::file_name("html"), "report.html");
}

RunReport run(const std::string& dir, double top1, int64_t bytes, double ms1) {
  Report r = pruned_quantized();
  r.stages.resize(2);
  r.stages[1].metrics.top1 = top1;
  r.stages[1].metrics.bytes_stored = bytes;
  r.stages[1].metrics.latency_ms = {{1, ms1}};
  return {dir, r};
}

TEST(Compare, TableAndScattersWithTheParetoFront) {
  // b is smaller than a at the same accuracy (a is dominated); c is the most accurate; d is dominated by b.
  const std::string page = compare_html({run("runs/a", 0.90, 4000, 1.0), run("runs/b", 0.90, 2000, 0.5),
                                         run("x/c", 0.92, 3000, 2.0), run("runs/d", 0.85, 2500, 0.6)});
  EXPECT_EQ(count(page, "<script"), 0u);
  EXPECT_EQ(count(page, "<tr>") - 1, 4u);
  const std::string size = chart(page, "chart-compare-size");
  EXPECT_EQ(count(size, "<circle class=\"point\""), 4u);
  EXPECT_EQ(count(size, "<circle class=\"highlight\""), 2u);  // b and c
  const std::string lat = chart(page, "chart-compare-latency-b1");
  EXPECT_EQ(count(lat, "<circle class=\"point\""), 4u);
  EXPECT_EQ(count(lat, "<circle class=\"highlight\""), 2u);   // b (0.5 ms) and c (most accurate); d is slower than b
  EXPECT_NE(page.find(">c</text>"), std::string::npos);      // labelled by directory name
  EXPECT_EQ(page.find("chart-compare-latency-b64"), std::string::npos);
}

TEST(Compare, SameDirectoryNamesKeepTheirPaths) {
  const std::string page = compare_html({run("one/run", 0.9, 10, 1), run("two/run", 0.8, 20, 2)});
  EXPECT_NE(page.find(">one/run<"), std::string::npos);
  EXPECT_NE(page.find(">two/run<"), std::string::npos);
}

TEST(Compare, BadRunDirectoriesNameTheFile) {
  test::TempDir dir;
  auto message = [](const std::string& d) {
    try {
      read_run_report(d);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(dir.file("nope")).find("nope: no such directory"), std::string::npos);
  std::filesystem::create_directory(dir.file("empty"));
  EXPECT_NE(message(dir.file("empty")).find("empty/report.json: no such file"), std::string::npos);
  std::filesystem::create_directory(dir.file("corrupt"));
  dir.write("corrupt/report.json", "{\"schema_version\": 1, \"stages\": [");
  EXPECT_NE(message(dir.file("corrupt")).find("corrupt/report.json: not valid JSON"), std::string::npos);
  std::filesystem::create_directory(dir.file("wrong"));
  json j = pruned_quantized().to_json();
  j["stages"][1]["metrics"]["macs"] = "many";
  dir.write("wrong/report.json", j.dump());
  const std::string m = message(dir.file("wrong"));
  EXPECT_NE(m.find("wrong/report.json: report JSON: field 'stages[1].metrics.macs' must be an integer"), std::string::npos)
      << m;
  std::filesystem::create_directory(dir.file("good"));
  dir.write("good/report.json", pruned_quantized().to_json().dump());
  EXPECT_EQ(read_run_report(dir.file("good")).report.stages.size(), 5u);
}

}  // namespace
}  // namespace mc::report
