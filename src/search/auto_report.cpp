#include "search/auto_report.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "common/atomic_file.h"
#include "report/html_page.h"
#include "report/svg.h"
#include "search/search_files.h"

namespace mc::search {
namespace {

std::string objective_label(const AutoOptions& o) {
  if (o.objective == "ort_latency")
    return fmt::format("ONNX Runtime latency at batch {} ({}, ms)", o.batch, o.latency_statistic);
  if (o.objective == "macs") return "MACs";
  return "ONNX file size (bytes)";
}

std::string config_text(const Config& c) {
  if (c.empty()) return "baseline";
  std::string s;
  for (const Move& m : c) s += (s.empty() ? "" : ", ") + m.knob + " " + m.layer + "=" + m.setting;
  return s;
}

}  // namespace

std::string auto_report_html(const std::vector<TrialResult>& trials, const AutoOptions& o) {
  namespace html = report::html;
  namespace svg = report::svg;
  const std::vector<size_t> front = pareto_front(trials);
  const std::set<size_t> on_front(front.begin(), front.end());
  const std::optional<Best> best = choose_best(trials, o);
  const TrialResult* base = nullptr;
  for (const auto& t : trials)
    if (t.config.empty() && t.status == "done") base = &t;

  std::string page = html::page_begin("compress auto: " + objective_label(o) + " within " +
                                      fmt::format("{:g} {}", o.max_loss, o.loss == "points" ? "top-1 points" : "% of top-1"));
  std::string facts;
  if (base) {
    facts += "<p>" + svg::escape(fmt::format("Baseline (the model as loaded): top-1 {:.2f} %, {} {:.6g}; tolerated top-1 "
                                             "{:.2f} %.", base->top1 * 100, o.objective, base->objective,
                                             o.min_top1(base->top1) * 100)) + "</p>";
  }
  if (best) {
    const TrialResult& t = trials[best->index];
    const double ratio = base && t.objective > 0 ? base->objective / t.objective : 0.0;
    facts += "<p>" + svg::escape(best->met ? fmt::format("Best: trial {} ({}): {} {:.6g} ({:.2f}x), top-1 {:.2f} %.", t.index,
                                                         config_text(t.config), o.objective, t.objective, ratio, t.top1 * 100)
                                           : fmt::format("No trial met the constraint. Closest: trial {} ({}): top-1 "
                                                         "{:.2f} %, {:.2f} points below the tolerated top-1.",
                                                         t.index, config_text(t.config), t.top1 * 100, best->miss)) +
             "</p>";
  }
  facts += "<p>" + svg::escape(fmt::format("{} trials; best.yaml reproduces the best with compress --recipe best.yaml.",
                                           trials.size())) + "</p>";
  page += html::section("summary", "Search", facts);

  svg::ScatterSeries all{"trials", {}, false}, pareto{"Pareto front", {}, true};
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialResult& t = trials[i];
    if (t.status != "done") continue;
    svg::ScatterPoint p{t.objective, t.top1 * 100, t.config.empty() ? "baseline" : fmt::format("t{}", t.index), false};
    if (on_front.count(i)) {
      p.highlight = true;
      pareto.points.push_back(p);
    } else {
      all.points.push_back(p);
    }
  }
  svg::Frame frame{"chart-auto-pareto", "top-1 against " + objective_label(o), 720, 360};
  svg::Axis x{objective_label(o), {}, {}, {}};
  svg::Axis y{"top-1 (%)", [](double v) { return fmt::format("{:.2f}", v); }, {}, {}};
  page += html::section("pareto", "Trials and Pareto front", html::chart_row({svg::scatter(frame, {all, pareto}, x, y)}));

  html::Table table;
  table.id = "trials";
  table.header = {"trial", "configuration", "status", o.objective, "ratio", "top-1 %", "top-1 ours %", "MACs", "ONNX bytes",
                  "seconds", "Pareto"};
  table.numeric = {true, false, false, true, true, true, true, true, true, true, false};
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialResult& t = trials[i];
    const bool done = t.status == "done";
    table.rows.push_back({std::to_string(t.index), config_text(t.config), done ? "done" : "failed: " + t.error,
                          done ? fmt::format("{:.6g}", t.objective) : "",
                          done && base && t.objective > 0 ? fmt::format("{:.2f}x", base->objective / t.objective) : "",
                          done ? fmt::format("{:.2f}", t.top1 * 100) : "", done ? fmt::format("{:.2f}", t.top1_ours * 100) : "",
                          done ? std::to_string(t.macs) : "", done ? std::to_string(t.onnx_bytes) : "",
                          fmt::format("{:.0f}", t.seconds), on_front.count(i) ? "yes" : ""});
    table.row_class.push_back(done ? (best && best->index == i ? "best" : "") : "failed");
  }
  page += html::section("trials", "Trials", table.render());
  page += html::page_end();
  return page;
}

void write_auto_report(const std::string& out_dir, const std::vector<TrialResult>& trials, const AutoOptions& options) {
  const std::string page = auto_report_html(trials, options);
  write_file_atomically((std::filesystem::path(out_dir) / "report.html").string(), [&](std::ostream& o) { o << page; });
}

}  // namespace mc::search
