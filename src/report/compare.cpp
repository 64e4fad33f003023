// The comparison page of several runs: reading each run's report.json (with one clear error per bad
// file), a table of the final models, and top-1 against size / latency scatters.
#include "report/compare.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "report/format.h"
#include "report/html_page.h"
#include "report/html_sections.h"
#include "report/svg.h"

namespace mc::report {

using nlohmann::json;

RunReport read_run_report(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / "report.json").string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError(dir + ": no such directory (give the run directories that `compress --recipe` wrote, e.g. runs/NAME)");
  if (!fs::is_regular_file(path, ec))
    throw InputError(path + ": no such file; '" + dir +
                     "' is not a run directory (a run writes report.json after its first stage): give a run directory");
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw InputError(path + ": cannot be read (check its permissions)");
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw InputError(path + ": not valid JSON (" + e.what() +
                     "); the file is damaged: run the recipe again to rewrite it, or leave this run out");
  }
  try {
    return RunReport{dir, Report::from_json(j)};
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

namespace {

/// A run's final model: the last stage that finished, and what the run's export stages measured.
struct Final {
  std::string name;  // the run as the page names it
  const StageRecord* baseline = nullptr;
  const StageRecord* last = nullptr;
  std::optional<double> top1, ort_top1, onnx_bytes;
};

Final final_of(const RunReport& r, const std::string& name) {
  Final f;
  f.name = name;
  f.baseline = baseline_stage(r.report.stages);
  f.last = final_stage(r.report.stages);
  if (f.last) f.top1 = f.last->metrics.top1;
  for (const StageRecord& s : r.report.stages) {
    if (s.status != "done") continue;
    if (auto o = html::ort_top1(s)) f.ort_top1 = o;
    if (auto b = html::onnx_bytes(s)) f.onnx_bytes = b;
  }
  return f;
}

/// Short names: the last path component of each run directory, or the whole path where two runs
/// would share one.
std::vector<std::string> run_names(const std::vector<RunReport>& runs) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::map<std::string, int> seen;
  for (const RunReport& r : runs) {
    fs::path p = fs::path(r.dir).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    names.push_back(p.filename().string().empty() ? r.dir : p.filename().string());
    ++seen[names.back()];
  }
  for (size_t i = 0; i < runs.size(); ++i)
    if (seen[names[i]] > 1) names[i] = runs[i].dir;
  return names;
}

/// Marks points that no other point beats: x no larger and y no smaller, one of them strictly.
void mark_pareto(std::vector<svg::ScatterPoint>& pts) {
  for (auto& p : pts) {
    p.highlight = true;
    for (const auto& q : pts)
      if (&q != &p && q.x <= p.x && q.y >= p.y && (q.x < p.x || q.y > p.y)) p.highlight = false;
  }
}

/// A file:// URL of an absolute path, every byte outside [A-Za-z0-9/._~-] percent-encoded.
std::string file_url(const std::string& path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "file://";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '.' || c == '_' || c == '~' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string bytes_text(double v) { return human_bytes(static_cast<int64_t>(v)); }
std::string percent_text(double v) { return fmt("%.4g%%", v); }
std::string ms_text(double v) { return fmt("%.4g", v) + " ms"; }

std::string scatter_of(const std::string& id, const std::string& title, std::vector<svg::ScatterPoint> pts,
                       const svg::Axis& x) {
  if (pts.empty()) return "";
  mark_pareto(pts);
  return svg::scatter({id, title, 640, 360}, {{"runs (ringed: Pareto front)", std::move(pts), false}}, x,
                      svg::Axis{"top-1", percent_text, {}, {}});
}

}  // namespace

std::string compare_html(const std::vector<RunReport>& runs) {
  const std::vector<std::string> names = run_names(runs);
  std::vector<Final> finals;
  std::set<int64_t> batches;
  bool any_ort = false, any_file = false;
  for (size_t i = 0; i < runs.size(); ++i) {
    finals.push_back(final_of(runs[i], names[i]));
    const Final& f = finals.back();
    if (f.last)
      for (auto& [b, v] : f.last->metrics.latency_ms) batches.insert(b);
    any_ort |= f.ort_top1.has_value();
    any_file |= f.onnx_bytes.has_value();
  }

  html::Table t;
  t.id = "compare-table";
  t.header = {"Run", "Recipe", "Final stage", "Top-1", "Top-1 change"};
  if (any_ort) t.header.push_back("Top-1 ONNX Runtime");
  for (const char* h : {"Params", "Non-zero", "Size stored"}) t.header.push_back(h);
  if (any_file) t.header.push_back("ONNX file");
  t.header.push_back("MACs");
  for (int64_t b : batches) t.header.push_back("Latency b" + std::to_string(b) + " (ms)");
  t.header.push_back("Created");
  for (size_t c = 0; c < t.header.size(); ++c) t.numeric.push_back(c >= 3 && c + 1 < t.header.size());
  std::vector<svg::ScatterPoint> by_size;
  std::map<int64_t, std::vector<svg::ScatterPoint>> by_latency;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Final& f = finals[i];
    const Report& r = runs[i].report;
    std::vector<std::string> row = {f.name, r.recipe_name, f.last ? html::stage_label(*f.last) : "(no stage done)",
                                    percent(f.top1)};
    const bool change = f.last && f.baseline && f.top1 && f.baseline->metrics.top1;
    row.push_back(change ? fmt("%+.2f pt", (*f.top1 - *f.baseline->metrics.top1) * 100) : "-");
    if (any_ort) row.push_back(percent(f.ort_top1));
    const Metrics* m = f.last ? &f.last->metrics : nullptr;
    row.push_back(m ? human_count(m->params) : "-");
    row.push_back(m ? human_count(m->nonzero_params) : "-");
    row.push_back(m ? human_bytes(m->bytes_stored) : "-");
    if (any_file) row.push_back(f.onnx_bytes ? human_bytes(static_cast<int64_t>(*f.onnx_bytes)) : "-");
    row.push_back(m ? human_count(m->macs) : "-");
    for (int64_t b : batches) {
      auto it = m ? m->latency_ms.find(b) : std::map<int64_t, double>::const_iterator{};
      const bool has = m && it != m->latency_ms.end();
      row.push_back(has ? ms(it->second) : "-");
      if (has && f.top1) by_latency[b].push_back({it->second, *f.top1 * 100, f.name});
    }
    row.push_back(r.created_at);
    t.rows.push_back(std::move(row));
    if (m && f.top1 && m->bytes_stored > 0) by_size.push_back({static_cast<double>(m->bytes_stored), *f.top1 * 100, f.name});
  }

  std::vector<std::string> charts;
  if (auto c = scatter_of("chart-compare-size", "Top-1 against size (tensors as stored)", by_size,
                          svg::Axis{"size", bytes_text, {}, {}});
      !c.empty())
    charts.push_back(c);
  for (auto& [b, pts] : by_latency)
    if (auto c = scatter_of("chart-compare-latency-b" + std::to_string(b), "Top-1 against latency, batch " + std::to_string(b),
                            pts, svg::Axis{"latency", ms_text, {}, {}});
        !c.empty())
      charts.push_back(c);

  std::ostringstream out;
  out << html::page_begin("Compression runs compared (" + std::to_string(runs.size()) + ")");
  out << "<p class=\"note\">Each run's final model: the last stage that finished. Top-1 on the run's data.val; "
         "size counts every tensor at its storage bit width; latency is the median of timed runs on the machine "
         "that ran the recipe.</p>\n";
  out << html::section("runs", "Runs", t.render());
  if (!charts.empty()) out << html::section("scatter", "Accuracy against cost", html::chart_row(charts));
  std::string links;
  for (size_t i = 0; i < runs.size(); ++i) {
    namespace fs = std::filesystem;
    const fs::path page = fs::absolute(fs::path(runs[i].dir) / "report.html");
    if (fs::exists(page))
      links += "<li><a href=\"" + svg::escape(file_url(page.string())) + "\">" + svg::escape(names[i]) + "</a></li>\n";
  }
  if (!links.empty()) out << html::section("pages", "Run reports", "<ul>\n" + links + "</ul>\n");
  out << html::page_end();
  return out.str();
}

}  // namespace mc::report
