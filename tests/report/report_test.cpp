// Report: JSON schema and round trip, Markdown content, atomic writing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "report/report.h"
#include "report/tiny_model.h"
#include "support/test_env.h"

namespace mc::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Three stages over the tiny model: baseline, prune (sparse), quantize (8-bit fc weights).
Report make_report() {
  ir::Model model = testing::make_tiny_model();
  MeasureOptions o;
  o.latency_batches = {1, 4};
  o.repeats = 2;
  o.warmup = 0;

  Report r;
  r.recipe_name = "tiny_int8";
  r.recipe_hash = "0123abcd";
  r.model_source = "tests/tiny.ir";
  r.created_at = "2024-05-01T12:00:00Z";
  r.tool_version = "0.1.0";

  StageRecord base{0, "evaluate", "done", 0.25, measure(model, o), json::object()};
  base.metrics.top1 = 0.75;
  base.metrics.top5 = 0.9375;
  base.metrics.loss = 0.8125;
  r.stages.push_back(base);

  model.tensors["fc.weight"].narrow(1, 0, 18).zero_();
  StageRecord prune{1, "prune", "done", 1.5, measure(model, o), json{{"sparsity", 0.5}, {"method", "magnitude"}}};
  prune.metrics.top1 = 0.71875;
  r.stages.push_back(prune);

  o.storage_bits = {{"fc.weight", 8}};
  StageRecord quant{2, "quantize", "done", 2.0, measure(model, o),
                    json{{"bits", 8},
                         {"epochs", json::array({json{{"epoch", 1}, {"loss", 0.91234}}, json{{"epoch", 2}, {"loss", 0.5}, {"val_top1", 0.875}}})},
                         {"calibration", json{{"observer", "minmax"}, {"samples", 512}}}}};
  quant.metrics.top1 = 0.7;
  quant.metrics.top5 = 0.90625;
  r.stages.push_back(quant);

  StageRecord exp{3, "export", "skipped", 0.0, Metrics{}, json::object()};
  r.stages.push_back(exp);
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Report, JsonSchema) {
  Report r = make_report();
  json j = r.to_json();
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["tool"]["name"], "compress");
  EXPECT_EQ(j["tool"]["version"], "0.1.0");
  EXPECT_EQ(j["recipe"]["name"], "tiny_int8");
  EXPECT_EQ(j["recipe"]["hash"], "0123abcd");
  EXPECT_EQ(j["model"]["source"], "tests/tiny.ir");
  EXPECT_EQ(j["created_at"], "2024-05-01T12:00:00Z");
  ASSERT_EQ(j["stages"].size(), 4u);

  const json& s0 = j["stages"][0];
  EXPECT_EQ(s0["index"], 0);
  EXPECT_EQ(s0["stage"], "evaluate");
  EXPECT_EQ(s0["status"], "done");
  EXPECT_EQ(s0["seconds"], 0.25);
  const json& m0 = s0["metrics"];
  for (const char* k : {"top1", "top5", "loss", "params", "nonzero_params", "sparsity", "macs", "bytes_fp32",
                        "bytes_stored", "compression_ratio", "latency_ms"})
    EXPECT_TRUE(m0.contains(k)) << k;
  EXPECT_EQ(m0["top1"], 0.75);
  EXPECT_EQ(m0["params"], testing::kTinyParams);
  EXPECT_EQ(m0["macs"], testing::kTinyMacs);
  EXPECT_EQ(m0["sparsity"], 0.0);
  EXPECT_EQ(m0["compression_ratio"], 1.0);
  EXPECT_TRUE(m0["latency_ms"].contains("1"));
  EXPECT_TRUE(m0["latency_ms"].contains("4"));
  ASSERT_EQ(s0["layers"].size(), 4u);
  EXPECT_EQ(s0["layers"][0]["scope"], "conv");
  EXPECT_EQ(s0["layers"][0]["output_shape"], json({1, 4, 6, 6}));
  EXPECT_TRUE(s0["details"].is_object());

  // Not measured -> null, never a made-up number.
  EXPECT_TRUE(j["stages"][1]["metrics"]["top5"].is_null());
  EXPECT_TRUE(j["stages"][1]["metrics"]["loss"].is_null());
  EXPECT_DOUBLE_EQ(j["stages"][1]["metrics"]["sparsity"].get<double>(), 90.0 / 305.0);
  EXPECT_EQ(j["stages"][1]["details"]["method"], "magnitude");
  EXPECT_TRUE(j["stages"][3]["metrics"]["compression_ratio"].is_null());  // skipped stage: nothing stored

  // Summary: first and last "done" stages (the skipped export does not count).
  const json& sum = j["summary"];
  EXPECT_EQ(sum["baseline_stage"], 0);
  EXPECT_EQ(sum["final_stage"], 2);
  EXPECT_EQ(sum["baseline"], m0);
  EXPECT_EQ(sum["final"], j["stages"][2]["metrics"]);
  EXPECT_DOUBLE_EQ(sum["deltas"]["top1"].get<double>(), 0.7 - 0.75);
  EXPECT_DOUBLE_EQ(sum["deltas"]["top5"].get<double>(), 0.90625 - 0.9375);
  int64_t b0 = m0["bytes_stored"], b2 = j["stages"][2]["metrics"]["bytes_stored"];
  EXPECT_EQ(b2, b0 - 3 * 180);
  EXPECT_DOUBLE_EQ(sum["deltas"]["size_ratio"].get<double>(), static_cast<double>(b2) / b0);
  EXPECT_TRUE(sum["deltas"]["speedup"].contains("1"));
  EXPECT_GT(sum["deltas"]["speedup"]["1"].get<double>(), 0.0);
}

TEST(Report, EmptyReportSummaryIsNull) {
  Report r;
  json j = r.to_json();
  EXPECT_TRUE(j["stages"].empty());
  EXPECT_TRUE(j["summary"]["baseline"].is_null());
  EXPECT_TRUE(j["summary"]["final"].is_null());
  EXPECT_TRUE(j["summary"]["deltas"]["top1"].is_null());
  EXPECT_EQ(Report::from_json(j).to_json(), j);
}

TEST(Report, JsonRoundTrip) {
  Report r = make_report();
  json j = r.to_json();
  Report back = Report::from_json(j);
  EXPECT_EQ(back.to_json(), j);
  ASSERT_EQ(back.stages.size(), r.stages.size());
  for (size_t i = 0; i < r.stages.size(); ++i) {
    EXPECT_EQ(back.stages[i].metrics, r.stages[i].metrics) << i;
    EXPECT_EQ(back.stages[i].details, r.stages[i].details) << i;
    EXPECT_EQ(back.stages[i].status, r.stages[i].status) << i;
  }
  // Through text too, as --resume reads report.json back.
  Report reparsed = Report::from_json(json::parse(j.dump(2)));
  EXPECT_EQ(reparsed.to_json(), j);
}

TEST(Report, FromJsonRejectsBadInput) {
  json j = make_report().to_json();
  json wrong_version = j;
  wrong_version["schema_version"] = 2;
  EXPECT_THROW(Report::from_json(wrong_version), InputError);

  json missing = j;
  missing["stages"][1]["metrics"].erase("params");
  try {
    Report::from_json(missing);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("stages[1].metrics.params"), std::string::npos) << e.what();
  }

  json bad_status = j;
  bad_status["stages"][0]["status"] = "finished";
  EXPECT_THROW(Report::from_json(bad_status), InputError);

  json bad_batch = j;
  bad_batch["stages"][0]["metrics"]["latency_ms"]["b1"] = 1.0;
  EXPECT_THROW(Report::from_json(bad_batch), InputError);

  EXPECT_THROW(Report::from_json(json::array()), InputError);

  // Unknown fields (added by a later minor revision) are ignored.
  json extra = j;
  extra["stages"][0]["metrics"]["energy_mj"] = 3.5;
  extra["future"] = {{"x", 1}};
  EXPECT_EQ(Report::from_json(extra).to_json(), j);
}

TEST(Report, Markdown) {
  Report r = make_report();
  std::string md = r.to_markdown();
  EXPECT_EQ(md.rfind("# Compression report: tiny_int8", 0), 0u) << md;
  EXPECT_NE(md.find("0123abcd"), std::string::npos);
  EXPECT_NE(md.find("## Summary"), std::string::npos);

  // A summary row per stage.
  std::istringstream lines(md);
  std::string line;
  std::map<std::string, int> rows;
  while (std::getline(lines, line)) {
    for (const char* st : {"evaluate", "prune", "quantize", "export"})
      if (line.rfind("|", 0) == 0 && line.find(std::string("| ") + st + " ") != std::string::npos) rows[st]++;
  }
  for (const char* st : {"evaluate", "prune", "quantize", "export"}) EXPECT_EQ(rows[st], 1) << st << "\n" << md;

  EXPECT_NE(md.find("Latency b1 (ms)"), std::string::npos);
  EXPECT_NE(md.find("Latency b4 (ms)"), std::string::npos);
  EXPECT_NE(md.find("75.00%"), std::string::npos);    // top-1 of the baseline
  EXPECT_NE(md.find("70.00%"), std::string::npos);    // top-1 of quantize
  EXPECT_NE(md.find("1.22 KiB / 1.22 KiB"), std::string::npos);  // baseline size: 1252 bytes
  EXPECT_NE(md.find("1.22 KiB / 712 B"), std::string::npos);     // quantize: 1252 - 720 + 180 bytes
  EXPECT_NE(md.find("Top-1: -5.00 points"), std::string::npos) << md;
  // Stage details: scalars as a list, arrays of objects as tables.
  EXPECT_NE(md.find("### 1 prune\n\n- method: magnitude\n- sparsity: 0.5\n"), std::string::npos) << md;
  EXPECT_NE(md.find("- calibration:\n  - observer: minmax\n  - samples: 512\n"), std::string::npos) << md;
  EXPECT_NE(md.find("epochs:\n\n| epoch |   loss | val_top1 |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("|     1 | 0.9123 |          |\n|     2 |    0.5 |    0.875 |\n"), std::string::npos) << md;

  // Per-layer table of the last measured stage, with every scope; earlier stages collapsed.
  EXPECT_NE(md.find("## Layers after stage 2 quantize"), std::string::npos);
  for (const char* scope : {"| conv ", "| bn ", "| pool ", "| fc "}) EXPECT_NE(md.find(scope), std::string::npos) << scope;
  EXPECT_NE(md.find("<details><summary>Layers after stage 0 evaluate</summary>"), std::string::npos);
  EXPECT_NE(md.find("<details><summary>Layers after stage 1 prune</summary>"), std::string::npos);

  // Tables are padded: every line of one table has the same width.
  std::istringstream again(md);
  size_t width = 0;
  bool in_table = false;
  while (std::getline(again, line)) {
    bool row = line.rfind("|", 0) == 0;
    if (row && in_table) EXPECT_EQ(line.size(), width) << line;
    if (row && !in_table) width = line.size();
    in_table = row;
  }
}

TEST(Report, WriteBothFilesAtomically) {
  test::TempDir dir;
  Report r = make_report();
  r.write(dir.path(), {"json", "md"});
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"report.json", "report.md"}));
  EXPECT_EQ(json::parse(slurp(dir.file("report.json"))), r.to_json());
  EXPECT_EQ(slurp(dir.file("report.md")), r.to_markdown());

  // Rewriting replaces the files and still leaves no temporary file behind.
  r.stages.pop_back();
  r.write(dir.path(), {"json", "markdown"});
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"report.json", "report.md"}));
  EXPECT_EQ(Report::from_json(json::parse(slurp(dir.file("report.json")))).stages.size(), 3u);
}

TEST(Report, WriteOnlyRequestedFormats) {
  test::TempDir dir;
  make_report().write(dir.path(), {"json"});
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"report.json"}));
}

TEST(Report, WriteToMissingDirectoryThrows) {
  test::TempDir dir;
  std::string missing = dir.file("no/such/dir");
  EXPECT_THROW(make_report().write(missing, {"json", "md"}), InputError);
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_TRUE(dir_entries(dir.path()).empty());
}

TEST(Report, UnknownFormatWritesNothing) {
  test::TempDir dir;
  EXPECT_THROW(make_report().write(dir.path(), {"json", "pdf"}), InputError);
  EXPECT_TRUE(dir_entries(dir.path()).empty());
  EXPECT_THROW(Report::file_name("pdf"), InputError);
  EXPECT_EQ(Report::file_name("md"), "report.md");
}

TEST(Report, UtcTimestamp) {
  std::string t = utc_timestamp();
  ASSERT_EQ(t.size(), 20u) << t;
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t.back(), 'Z');
}

}  // namespace
}  // namespace mc::report
