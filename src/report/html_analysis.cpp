// The "which layer breaks accuracy" section of report.html, from `compress analyze`'s
// details.analysis (pipeline/analyze.h): per layer, ranked worst first, the output SQNR against the
// float model (only that layer compressed; every layer compressed) and the top-1 points recovered
// by reverting that layer to float. A layer without a figure draws no bar.
#include "report/format.h"
#include "report/html_page.h"
#include "report/html_sections.h"
#include "report/svg.h"

namespace mc::report::html {

using nlohmann::json;

namespace {

std::string db_text(double v) { return fmt("%.3g dB", v); }
std::string points_text(double v) { return fmt("%+.3g pt", v); }

std::string analysis_chart(const StageRecord& s, bool sqnr) {
  const json* an = object(s.details, "analysis");
  const json* rows = an ? array(*an, "layers") : nullptr;
  if (!rows || rows->empty()) return "";
  std::vector<std::string> cats;
  svg::BarSeries only{"only this layer compressed", {}}, cumulative{"every layer compressed", {}};
  svg::BarSeries recovery{"top-1 recovered by reverting it", {}};
  bool any = false;
  for (const json& r : *rows) {
    const auto layer = string(r, "layer");
    if (!layer) continue;
    cats.push_back(*layer);
    only.values.push_back(number(r, "sqnr_only_db"));
    cumulative.values.push_back(number(r, "sqnr_cumulative_db"));
    std::optional<double> rec = number(r, "recovery");
    recovery.values.push_back(rec ? std::optional<double>(*rec * 100) : std::nullopt);
    any = any || (sqnr ? only.values.back() || cumulative.values.back() : recovery.values.back().has_value());
  }
  if (!any) return "";
  const std::string idx = std::to_string(s.index);
  if (sqnr)
    return svg::bar_chart({"chart-analysis-sqnr-" + idx, "Layer output SQNR against float, worst first (" + stage_label(s) + ")", 660, 360},
                          cats, {only, cumulative}, svg::Axis{"SQNR (dB)", db_text, std::nullopt, std::nullopt});
  std::string title = "Top-1 recovered by reverting one layer to float (" + stage_label(s) + ")";
  if (auto f = number(*an, "top1_float"), c = number(*an, "top1_compressed"); f && c)
    title += fmt(", float %.2f%%", *f * 100) + fmt(", compressed %.2f%%", *c * 100);
  return svg::bar_chart({"chart-analysis-top1-" + idx, title, 660, 360}, cats, {recovery},
                        svg::Axis{"top-1 recovered (points)", points_text, std::nullopt, std::nullopt});
}

}  // namespace

std::vector<std::string> analysis_charts(const std::vector<StageRecord>& stages) {
  std::vector<std::string> charts;
  for (const StageRecord& s : stages)
    for (std::string c : {analysis_chart(s, true), analysis_chart(s, false)})
      if (!c.empty()) charts.push_back(std::move(c));
  return charts;
}

}  // namespace mc::report::html
