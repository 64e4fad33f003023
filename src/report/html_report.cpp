// Report -> report.html: run facts, the summary table, per-stage charts, per-layer and sensitivity
// charts (html_layers.cpp), and each stage's details as JSON. One self-contained page: inline SVG
// and CSS, no scripts, nothing fetched.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "report/format.h"
#include "report/html_page.h"
#include "report/html_sections.h"
#include "report/report.h"
#include "report/svg.h"

namespace mc::report {

using nlohmann::json;

namespace html {

std::string stage_label(const StageRecord& s) { return std::to_string(s.index) + " " + s.stage; }

std::optional<double> ort_top1(const StageRecord& s) {
  const json* e = object(s.details, "ort_eval");
  if (!e || string(*e, "status").value_or("") != "done") return std::nullopt;
  return number(*e, "top1_ort");
}

std::optional<double> onnx_bytes(const StageRecord& s) {
  if (!string(s.details, "onnx")) return std::nullopt;
  return number(s.details, "bytes");
}

namespace {

std::string bytes_text(double v) { return human_bytes(static_cast<int64_t>(v)); }
std::string count_text(double v) { return human_count(static_cast<int64_t>(v)); }
std::string percent_text(double v) { return fmt("%.4g%%", v); }
std::string ms_text(double v) { return fmt("%.4g", v) + " ms"; }

/// Values of the stages that ran; a stage that failed or was skipped has no bars.
std::optional<double> done(const StageRecord& s, std::optional<double> v) {
  return s.status == "done" ? v : std::nullopt;
}

}  // namespace

std::vector<std::string> stage_charts(const std::vector<StageRecord>& stages) {
  std::vector<std::string> cats;
  svg::BarSeries top1{"ours (data.val)", {}}, ort{"ONNX Runtime (exported file)", {}};
  svg::BarSeries stored{"tensors as stored", {}}, file{"ONNX file on disk", {}}, macs{"MACs", {}};
  std::set<int64_t> batches;
  for (const StageRecord& s : stages)
    for (auto& [b, v] : s.metrics.latency_ms) batches.insert(b);
  std::map<int64_t, svg::BarSeries> latency;
  for (const StageRecord& s : stages) {
    cats.push_back(stage_label(s));
    const Metrics& m = s.metrics;
    top1.values.push_back(done(s, m.top1 ? std::optional<double>(*m.top1 * 100) : std::nullopt));
    const auto o = ort_top1(s);
    ort.values.push_back(done(s, o ? std::optional<double>(*o * 100) : std::nullopt));
    stored.values.push_back(done(s, m.bytes_stored > 0 ? std::optional<double>(m.bytes_stored) : std::nullopt));
    file.values.push_back(done(s, onnx_bytes(s)));
    macs.values.push_back(done(s, m.macs > 0 ? std::optional<double>(m.macs) : std::nullopt));
    for (int64_t b : batches) {
      auto it = m.latency_ms.find(b);
      latency[b].values.push_back(done(s, it == m.latency_ms.end() ? std::nullopt : std::optional<double>(it->second)));
    }
  }
  auto any = [](const svg::BarSeries& b) {
    for (const auto& v : b.values)
      if (v) return true;
    return false;
  };
  auto present = [&](std::vector<svg::BarSeries> series) {
    std::vector<svg::BarSeries> out;
    for (auto& b : series)
      if (any(b)) out.push_back(std::move(b));
    return out;
  };
  std::vector<std::string> charts;
  if (auto s = present({top1, ort}); !s.empty()) {
    // The axis starts near the lowest accuracy, so that differences of a point stay visible.
    double lo = 100;
    for (const auto& b : s)
      for (const auto& v : b.values)
        if (v) lo = std::min(lo, *v);
    const double axis_min = std::max(0.0, std::floor(lo / 10 - 0.5) * 10);
    charts.push_back(svg::bar_chart({"chart-top1", "Top-1 per stage"}, cats, s,
                                    svg::Axis{"top-1", percent_text, axis_min, 100.0}));
  }
  if (auto s = present({stored, file}); !s.empty())
    charts.push_back(svg::bar_chart({"chart-size", "Size per stage"}, cats, s, svg::Axis{"bytes", bytes_text, {}, {}}));
  if (any(macs))
    charts.push_back(svg::bar_chart({"chart-macs", "MACs per stage"}, cats, {macs}, svg::Axis{"MACs", count_text, {}, {}}));
  for (auto& [b, series] : latency) {
    series.name = "batch " + std::to_string(b);
    if (any(series))
      charts.push_back(svg::bar_chart({"chart-latency-b" + std::to_string(b), "Latency per stage, batch " + std::to_string(b)},
                                      cats, {series}, svg::Axis{"ms per batch", ms_text, {}, {}}));
  }
  return charts;
}

namespace {

Table summary_table(const std::vector<StageRecord>& stages) {
  std::set<int64_t> batches;
  bool any_ort = false, any_file = false;
  for (const StageRecord& s : stages) {
    for (auto& [b, v] : s.metrics.latency_ms) batches.insert(b);
    any_ort |= ort_top1(s).has_value();
    any_file |= onnx_bytes(s).has_value();
  }
  Table t;
  t.id = "summary-table";
  t.header = {"#", "Stage", "Status", "Top-1"};
  if (any_ort) t.header.push_back("Top-1 ONNX Runtime");
  for (const char* h : {"Top-5", "Params", "Non-zero", "Size fp32", "Size stored"}) t.header.push_back(h);
  if (any_file) t.header.push_back("ONNX file");
  t.header.push_back("MACs");
  for (int64_t b : batches) t.header.push_back("Latency b" + std::to_string(b) + " (ms)");
  t.header.push_back("Time");
  for (size_t c = 0; c < t.header.size(); ++c) t.numeric.push_back(c == 0 || c >= 3);
  for (const StageRecord& s : stages) {
    const Metrics& m = s.metrics;
    std::vector<std::string> row = {std::to_string(s.index), s.stage, s.status, percent(m.top1)};
    if (any_ort) row.push_back(percent(ort_top1(s)));
    for (std::string v : {percent(m.top5), human_count(m.params), human_count(m.nonzero_params), human_bytes(m.bytes_fp32),
                          human_bytes(m.bytes_stored)})
      row.push_back(v);
    if (any_file) {
      const auto f = onnx_bytes(s);
      row.push_back(f ? human_bytes(static_cast<int64_t>(*f)) : "-");
    }
    row.push_back(human_count(m.macs));
    for (int64_t b : batches) {
      auto it = m.latency_ms.find(b);
      row.push_back(it == m.latency_ms.end() ? "-" : ms(it->second));
    }
    row.push_back(seconds(s.seconds));
    t.rows.push_back(std::move(row));
    t.row_class.push_back(s.status == "done" ? "" : s.status);
  }
  return t;
}

/// Final against baseline, as report.md has it.
std::string change_list(const std::vector<StageRecord>& stages) {
  const StageRecord* b = baseline_stage(stages);
  const StageRecord* f = final_stage(stages);
  if (!b || !f || b == f) return "";
  const Metrics& mb = b->metrics;
  const Metrics& mf = f->metrics;
  std::vector<std::string> items;
  if (mb.top1 && mf.top1) items.push_back("Top-1: " + fmt("%+.2f", (*mf.top1 - *mb.top1) * 100) + " points");
  if (mb.bytes_stored > 0 && mf.bytes_stored > 0)
    items.push_back("Size: " + human_bytes(mb.bytes_stored) + " \xE2\x86\x92 " + human_bytes(mf.bytes_stored) + " (" +
                    fmt("%.2fx", static_cast<double>(mb.bytes_stored) / static_cast<double>(mf.bytes_stored)) + " smaller)");
  if (mb.macs > 0 && mf.macs > 0)
    items.push_back("MACs: " + human_count(mb.macs) + " \xE2\x86\x92 " + human_count(mf.macs) + " (" +
                    fmt("%.2fx", static_cast<double>(mb.macs) / static_cast<double>(mf.macs)) + " fewer)");
  for (auto& [batch, v] : mf.latency_ms) {
    auto it = mb.latency_ms.find(batch);
    if (it != mb.latency_ms.end() && v > 0)
      items.push_back("Latency at batch " + std::to_string(batch) + ": " + ms(it->second) + " ms \xE2\x86\x92 " + ms(v) +
                      " ms (" + fmt("%.2fx", it->second / v) + " speedup)");
  }
  if (items.empty()) return "";
  std::string out = "<p>Final (stage " + svg::escape(stage_label(*f)) + ") against baseline (stage " +
                    svg::escape(stage_label(*b)) + "):</p>\n<ul id=\"change\">\n";
  for (const std::string& i : items) out += "<li>" + svg::escape(i) + "</li>\n";
  return out + "</ul>\n";
}

std::string details_section(const std::vector<StageRecord>& stages) {
  std::ostringstream s;
  for (const StageRecord& st : stages) {
    if (st.details.is_null() || (st.details.is_object() && st.details.empty())) continue;
    s << "<details><summary>" << svg::escape(stage_label(st)) << "</summary>\n<pre>"
      << svg::escape(st.details.dump(2)) << "</pre></details>\n";
  }
  return s.str();
}

}  // namespace
}  // namespace html

std::string Report::to_html() const {
  using namespace html;
  std::ostringstream out;
  out << page_begin("Compression report: " + (recipe_name.empty() ? std::string("(unnamed recipe)") : recipe_name));
  out << "<ul id=\"facts\">\n<li>Recipe: <code>" << svg::escape(recipe_name) << "</code>"
      << (recipe_hash.empty() ? "" : " (hash <code>" + svg::escape(recipe_hash) + "</code>)") << "</li>\n";
  if (!model_source.empty()) out << "<li>Model: <code>" << svg::escape(model_source) << "</code></li>\n";
  if (!created_at.empty()) out << "<li>Created: " << svg::escape(created_at) << "</li>\n";
  out << "<li>Tool: compress " << svg::escape(tool_version.empty() ? "(unknown version)" : tool_version) << "</li>\n</ul>\n";
  if (stages.empty()) {
    out << section("summary", "Summary", "<p>No stages ran.</p>\n") << page_end();
    return out.str();
  }
  out << section("summary", "Summary", summary_table(stages).render() + change_list(stages));
  const std::vector<std::string> per_stage = stage_charts(stages);
  if (!per_stage.empty()) out << section("stages", "Per stage", chart_row(per_stage));
  const std::vector<std::string> layers = layer_charts(stages);
  if (!layers.empty()) out << section("layers", "Per layer", chart_row(layers));
  const std::vector<std::string> analysis = analysis_charts(stages);
  if (!analysis.empty()) out << section("analysis", "Which layer breaks accuracy", chart_row(analysis));
  const std::vector<std::string> sens = sensitivity_charts(stages);
  if (!sens.empty()) out << section("sensitivity", "Sensitivity", chart_row(sens));
  const std::string details = details_section(stages);
  if (!details.empty()) out << section("details", "Stage details", details);
  out << page_end();
  return out.str();
}

}  // namespace mc::report
