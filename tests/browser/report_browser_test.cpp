// report.html and `compress report --html` in a real browser: headless Chromium loads each page,
// the test checks that the browser logged nothing on its console (a script error, a resource it
// tried to fetch) and that the DOM it built holds every chart with its marks, and keeps a
// screenshot of each page under <build>/test-artifacts/browser/ (the paths are printed).
//
// One real run feeds the pages: the trained resnet8 fixture pruned to 50 %, quantized with
// mixed-precision weights (8/4 bits) and exported with ONNX Runtime's top-1 on 256 test images.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "report/report.h"
#include "support/test_env.h"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

std::string artifact_dir() {
  const std::string d = std::string(MC_BINARY_DIR) + "/test-artifacts/browser";
  fs::create_directories(d);
  return d;
}

struct Loaded {
  std::string dom;                   // the DOM after loading, as Chromium serialises it
  std::vector<std::string> console;  // "CONSOLE(...)" lines of Chromium's log
  std::string log;
};

/// Chromium: $MC_CHROMIUM, else `chromium` on PATH. Missing: the test fails (install it).
::testing::AssertionResult chromium(std::string& path) {
  const char* env = std::getenv("MC_CHROMIUM");
  path = env && *env ? env : "";
  if (path.empty()) {
    RunResult r = run_command("command -v chromium");
    if (r.exit_code == 0) path = r.out.substr(0, r.out.find('\n'));
  }
  if (path.empty() || !fs::exists(path))
    return ::testing::AssertionFailure() << "headless Chromium not found (set MC_CHROMIUM or install the Debian "
                                            "package: apt-get install --no-install-recommends chromium; "
                                            "scripts/install-deps.sh installs it)";
  return ::testing::AssertionSuccess();
}

/// Loads `page` in headless Chromium: the DOM and the console lines; with `screenshot`, also a PNG.
Loaded load(const std::string& page, const std::string& screenshot = "") {
  std::string bin;
  EXPECT_TRUE(chromium(bin));
  Loaded out;
  if (bin.empty()) return out;
  TempDir tmp;  // a profile of its own: no state shared with other runs
  const std::string common = "timeout 120 " + bin + " --headless --disable-gpu --no-sandbox --user-data-dir=" +
                             tmp.file("profile") + " --enable-logging=stderr --v=0 ";
  const std::string url = "file://" + fs::absolute(page).string();
  // In a group: run_command appends 2>&1, which must not send the log into the DOM file.
  RunResult r = run_command("{ " + common + "--dump-dom '" + url + "' > " + tmp.file("dom.html") + " 2> " +
                            tmp.file("log.txt") + "; }");
  EXPECT_EQ(r.exit_code, 0) << slurp(tmp.file("log.txt"));
  out.dom = slurp(tmp.file("dom.html"));
  out.log = slurp(tmp.file("log.txt"));
  std::istringstream lines(out.log);
  for (std::string line; std::getline(lines, line);)
    if (line.find("CONSOLE") != std::string::npos) out.console.push_back(line);
  if (!screenshot.empty()) {
    fs::remove(screenshot);
    RunResult s = run_command(common + "--hide-scrollbars --window-size=1400,2600 --screenshot=" + screenshot + " '" +
                              url + "' 2>&1");
    EXPECT_EQ(s.exit_code, 0) << s.out;
    EXPECT_TRUE(fs::exists(screenshot) && fs::file_size(screenshot) > 10000) << s.out;
    std::cout << "screenshot: " << screenshot << "\n";
  }
  return out;
}

/// The element with this id up to its </svg> in `html` (source or serialised DOM); "" when absent.
std::string chart(const std::string& html, const std::string& id) {
  const size_t p = html.find("id=\"" + id + "\"");
  if (p == std::string::npos) return "";
  const size_t open = html.rfind("<svg", p);
  return html.substr(open, html.find("</svg>", p) + 6 - open);
}

std::set<std::string> chart_ids(const std::string& html) {
  std::set<std::string> ids;
  const std::regex re("<svg[^>]* id=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), re); it != std::sregex_iterator(); ++it)
    ids.insert((*it)[1]);
  return ids;
}

/// Every chart of the page file is in the browser's DOM with the same number of marks.
void expect_same_charts(const std::string& source, const std::string& dom) {
  const std::set<std::string> ids = chart_ids(source);
  EXPECT_EQ(chart_ids(dom), ids);
  for (const std::string& id : ids) {
    const std::string a = chart(source, id), b = chart(dom, id);
    for (const char* mark : {"<rect", "<circle", "<polyline", "<text"})
      EXPECT_EQ(count(b, mark), count(a, mark)) << id << " " << mark;
  }
}

/// The pipeline run behind the pages (once per process).
const std::string& run_dir() {
  static const std::string dir = [] {
    const std::string d = artifact_dir() + "/run";
    fs::remove_all(d);
    const std::string recipe = artifact_dir() + "/browser_report.yaml";
    std::ofstream(recipe) << "name: browser_report\nseed: 0\nthreads: 2\ninclude: [fashion_mnist]\n"
                             "data:\n"
                             "  val: {dataset: fashion_mnist, batch_size: 256, transform: fmnist_eval, shuffle: false, "
                             "limit: 256}\n"
                             "  calib: {from: train, samples: 128}\n"
                             "model: {checkpoint: " << resnet8_fixture() << "}\n"
                             "stages:\n"
                             "  - prune: {sparsity: 0.5}\n"
                             "  - quantize: {mode: ptq, mixed_precision: {candidates: [8, 4], average_bits: 6, batches: 1}}\n"
                             "  - export: {onnx: model.onnx, ort_eval: true}\n"
                             "report: {latency_batches: [1, 8], latency_repeats: 3}\n";
    RunResult r = run_compress("--recipe " + recipe + " --out " + d + " -q");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return d;
  }();
  return dir;
}

TEST(Chromium, ConsoleErrorsAreDetected) {
  // The detection itself: a page with a script error logs it; the same page without it logs nothing.
  TempDir dir;
  const std::string bad = dir.write("bad.html", "<!DOCTYPE html><html><body><svg id=\"s\"><rect/></svg>"
                                                "<script>undefinedFunction();</script></body></html>");
  const Loaded b = load(bad);
  ASSERT_EQ(b.console.size(), 1u) << b.log;
  EXPECT_NE(b.console[0].find("undefinedFunction is not defined"), std::string::npos) << b.console[0];
  EXPECT_NE(b.dom.find("<svg id=\"s\"><rect></rect></svg>"), std::string::npos) << b.dom;
  const std::string good = dir.write("good.html", "<!DOCTYPE html><html><body><svg id=\"s\"><rect/></svg>"
                                                  "<script>var x = 1;</script></body></html>");
  const Loaded g = load(good);
  EXPECT_TRUE(g.console.empty()) << g.log;
  EXPECT_NE(g.dom.find("<svg id=\"s\"><rect></rect></svg>"), std::string::npos) << g.dom;
}

TEST(ReportPage, RendersItsChartsWithoutConsoleErrors) {
  const std::string dir = run_dir();
  const std::string page = dir + "/report.html";
  ASSERT_TRUE(fs::exists(page));  // html is a default format
  const std::string source = slurp(page);
  const Loaded l = load(page, artifact_dir() + "/report.png");
  EXPECT_TRUE(l.console.empty()) << l.log;
  expect_same_charts(source, l.dom);

  // The charts this run must have, with their marks counted against report.json.
  const json rep = read_json(dir + "/report.json");
  int done = 0;
  for (const auto& s : rep["stages"]) done += s["status"] == "done" && s["metrics"]["top1"].is_number();
  ASSERT_EQ(done, 4);  // load, prune, quantize, export
  EXPECT_EQ(count(chart(l.dom, "chart-top1"), "class=\"bar\""), 5u);  // 4 stages + ONNX Runtime's top-1 of the file
  for (const char* id : {"chart-size", "chart-macs", "chart-latency-b1", "chart-latency-b8"})
    EXPECT_GE(count(chart(l.dom, id), "class=\"bar\""), 4u) << id;
  const json& mp = rep["stages"][2]["details"]["mixed_precision"]["layers"];
  ASSERT_EQ(mp.size(), 10u);  // resnet8's convs and fc
  EXPECT_EQ(count(chart(l.dom, "chart-layer-bits"), "class=\"bar\""), mp.size());
  EXPECT_EQ(count(chart(l.dom, "chart-layer-sparsity"), "class=\"bar\""), mp.size());
  EXPECT_EQ(count(chart(l.dom, "chart-mixed-precision-2"), "class=\"point\""), 2 * mp.size());
  EXPECT_EQ(count(chart(l.dom, "chart-mixed-precision-2"), "class=\"line\""), mp.size());
  EXPECT_GE(count(chart(l.dom, "chart-layer-macs"), "class=\"bar\""), mp.size());
  // No chart of what the run did not record.
  EXPECT_EQ(l.dom.find("chart-layer-rank"), std::string::npos);
  EXPECT_EQ(l.dom.find("chart-layer-clusters"), std::string::npos);
  EXPECT_EQ(count(l.dom, "<script"), 0u);
}

TEST(ReportPage, OddLayerNamesDoNotBreakThePage) {
  // The run's report with a scope renamed to one full of markup characters, rendered again.
  json rep = read_json(run_dir() + "/report.json");
  const std::string odd = "layer1.0.conv1<b>&\"x\"</b>'";
  size_t renamed = 0;
  for (auto& s : rep["stages"])
    for (auto& l : s["layers"])
      if (l["scope"] == "layer1.0.conv1") l["scope"] = odd, ++renamed;
  ASSERT_GT(renamed, 0u);
  TempDir dir;
  const std::string source = report::Report::from_json(rep).to_html();
  const std::string page = dir.write("odd.html", source);
  const Loaded l = load(page);
  EXPECT_TRUE(l.console.empty()) << l.log;
  expect_same_charts(source, l.dom);
  EXPECT_EQ(count(l.dom, "<b>"), 0u);  // the name stayed text
  EXPECT_NE(l.dom.find("layer1.0.conv1&lt;b&gt;&amp;\"x\"&lt;/b&gt;'"), std::string::npos);
}

TEST(ComparePage, TwoRunsSideBySide) {
  const std::string out = artifact_dir() + "/compare.html";
  fs::remove(out);
  const std::string fixture_run = fs::path(resnet8_fixture()).parent_path().string();
  RunResult r = run_compress("report " + fixture_run + " " + run_dir() + " --html " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string source = slurp(out);
  const Loaded l = load(out, artifact_dir() + "/compare.png");
  EXPECT_TRUE(l.console.empty()) << l.log;
  expect_same_charts(source, l.dom);
  EXPECT_EQ(count(chart(l.dom, "chart-compare-size"), "class=\"point\""), 2u);
  EXPECT_EQ(count(chart(l.dom, "chart-compare-latency-b1"), "class=\"point\""), 2u);  // both timed batch 1
  EXPECT_EQ(count(chart(l.dom, "chart-compare-latency-b8"), "class=\"point\""), 1u);  // only the test run
  EXPECT_EQ(count(l.dom, "<tr>"), 3u);                                                // header + 2 runs
}

TEST(ComparePage, BadRunDirectoriesExitTwoAndWriteNothing) {
  TempDir dir;
  const std::string out = dir.file("compare.html");
  fs::create_directory(dir.file("not_a_run"));
  RunResult r = run_compress("report " + run_dir() + " " + dir.file("not_a_run") + " --html " + out);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(dir.file("not_a_run") + "/report.json: no such file"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  fs::create_directory(dir.file("corrupt"));
  dir.write("corrupt/report.json", slurp(run_dir() + "/report.json").substr(0, 300));
  r = run_compress("report " + dir.file("corrupt") + " --html " + out);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(dir.file("corrupt") + "/report.json: not valid JSON"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  r = run_compress("report " + run_dir() + " --html " + dir.file("missing/compare.html"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mc::test
