// Per-layer and sensitivity charts of report.html, from the stages' per-layer rows and details.
#include <algorithm>
#include <map>
#include <set>

#include "report/format.h"
#include "report/html_page.h"
#include "report/html_sections.h"
#include "report/svg.h"

namespace mc::report::html {

using nlohmann::json;

namespace {

/// The per-node rows of one module scope, summed: a layer as people name it (`layer1.0.conv1`).
struct ScopeRow {
  std::string scope;
  bool has_weight = false;  // a conv / linear / matmul / embedding weight (or its fake_quant)
  int64_t params = 0, nonzero = 0, weight_params = 0;
  int bits = 32;            // storage bits of the scope's largest weight tensor
  bool computes = false;    // a conv / linear / matmul with MACs
  int64_t macs = 0;
  double sparsity() const { return params > 0 ? 1.0 - static_cast<double>(nonzero) / static_cast<double>(params) : 0.0; }
};

bool is_weight_op(const std::string& op) {
  static const std::set<std::string> kOps = {"conv2d", "linear", "matmul", "fake_quant", "embedding", "shared_weight"};
  return kOps.count(op) > 0;
}
bool is_compute_op(const std::string& op) { return op == "conv2d" || op == "linear" || op == "matmul"; }

std::vector<ScopeRow> by_scope(const std::vector<LayerRow>& rows) {
  std::vector<ScopeRow> out;
  std::map<std::string, size_t> at;
  for (const LayerRow& r : rows) {
    const std::string name = r.scope.empty() ? "(" + r.op + ")" : r.scope;
    auto [it, fresh] = at.emplace(name, out.size());
    if (fresh) out.push_back(ScopeRow{name});
    ScopeRow& s = out[it->second];
    if (is_weight_op(r.op) && r.params > 0) {
      s.has_weight = true;
      s.params += r.params;
      s.nonzero += r.nonzero_params;
      if (r.params > s.weight_params) s.weight_params = r.params, s.bits = r.bits;
    }
    if (is_compute_op(r.op) && r.macs > 0) s.computes = true, s.macs += r.macs;
  }
  return out;
}

std::string count_text(double v) { return human_count(static_cast<int64_t>(v)); }
std::string percent_text(double v) { return fmt("%.4g%%", v); }

std::string bits_chart(const std::vector<ScopeRow>& layers, const std::string& after) {
  std::vector<std::string> cats;
  svg::BarSeries bits{"weight bits", {}};
  bool any = false;
  for (const ScopeRow& l : layers) {
    if (!l.has_weight) continue;
    cats.push_back(l.scope);
    bits.values.push_back(l.bits);
    any |= l.bits != 32;
  }
  if (!any) return "";
  return svg::bar_chart({"chart-layer-bits", "Weight bits per layer (" + after + ")"}, cats, {bits},
                        svg::Axis{"bits", nullptr, 0.0, std::nullopt});
}

std::string sparsity_chart(const std::vector<ScopeRow>& layers, const std::string& after) {
  std::vector<std::string> cats;
  svg::BarSeries sp{"sparsity", {}};
  bool any = false;
  for (const ScopeRow& l : layers) {
    if (!l.has_weight) continue;
    cats.push_back(l.scope);
    sp.values.push_back(l.sparsity() * 100);
    any |= l.nonzero < l.params;
  }
  if (!any) return "";
  return svg::bar_chart({"chart-layer-sparsity", "Sparsity per layer (" + after + ")"}, cats, {sp},
                        svg::Axis{"zeros (% of params)", percent_text, 0.0, 100.0});
}

/// MACs per layer after the first and the last stage that have per-layer rows; layers that only
/// one of them has (removed blocks, decomposition factors) get one bar.
std::string macs_chart(const StageRecord& first, const StageRecord& last) {
  const std::vector<ScopeRow> a = by_scope(first.metrics.layers), b = by_scope(last.metrics.layers);
  std::vector<std::string> cats;
  std::map<std::string, size_t> at;
  auto add = [&](const std::vector<ScopeRow>& rows) {
    for (const ScopeRow& r : rows)
      if (r.computes && at.emplace(r.scope, cats.size()).second) cats.push_back(r.scope);
  };
  add(a);
  add(b);
  if (cats.empty()) return "";
  auto values = [&](const std::vector<ScopeRow>& rows) {
    std::vector<std::optional<double>> v(cats.size());
    for (const ScopeRow& r : rows)
      if (r.computes) v[at.at(r.scope)] = static_cast<double>(r.macs);
    return v;
  };
  std::vector<svg::BarSeries> series;
  if (&first == &last) {
    series.push_back({"MACs", values(b)});
  } else {
    series.push_back({"before (" + stage_label(first) + ")", values(a)});
    series.push_back({"after (" + stage_label(last) + ")", values(b)});
  }
  return svg::bar_chart({"chart-layer-macs", "MACs per layer"}, cats, series, svg::Axis{"MACs", count_text, {}, {}});
}

/// Ranks a decomposition stage chose (details.layers[].ranks of the decomposed layers).
std::string rank_chart(const StageRecord& s) {
  const json* rows = array(s.details, "layers");
  if (!rows) return "";
  std::vector<std::string> cats;
  std::vector<std::vector<double>> ranks;
  size_t width = 0;
  for (const json& r : *rows) {
    const json* rk = array(r, "ranks");
    const auto scope = string(r, "scope");
    if (!rk || rk->empty() || !scope || string(r, "status").value_or("decomposed") != "decomposed") continue;
    std::vector<double> v;
    for (const json& x : *rk)
      if (x.is_number()) v.push_back(x.get<double>());
    if (v.size() != rk->size()) continue;
    cats.push_back(*scope);
    width = std::max(width, v.size());
    ranks.push_back(std::move(v));
  }
  if (cats.empty()) return "";
  std::vector<svg::BarSeries> series;
  for (size_t k = 0; k < width; ++k) {
    svg::BarSeries b{width == 1 ? "rank" : "ranks[" + std::to_string(k) + "]", {}};
    for (const auto& v : ranks) b.values.push_back(k < v.size() ? std::optional<double>(v[k]) : std::nullopt);
    series.push_back(std::move(b));
  }
  return svg::bar_chart({"chart-layer-rank-" + std::to_string(s.index), "Decomposition ranks (" + stage_label(s) + ")"},
                        cats, series, svg::Axis{"rank", nullptr, 0.0, std::nullopt});
}

/// Codebook sizes a `cluster` stage chose (details.layers[].k).
std::string cluster_chart(const StageRecord& s) {
  const json* rows = array(s.details, "layers");
  if (!rows) return "";
  std::vector<std::string> cats;
  svg::BarSeries k{"clusters", {}};
  for (const json& r : *rows) {
    const auto scope = string(r, "scope");
    const auto n = number(r, "k");
    if (!scope || !n || !number(r, "index_bits")) continue;
    cats.push_back(*scope);
    k.values.push_back(*n);
  }
  if (cats.empty()) return "";
  return svg::bar_chart({"chart-layer-clusters-" + std::to_string(s.index), "Clusters per layer (" + stage_label(s) + ")"},
                        cats, {k}, svg::Axis{"shared values (k)", nullptr, 0.0, std::nullopt});
}

/// A `sensitivity` stage: top-1 with one layer pruned at each ratio (details.sensitivity).
std::string pruning_sensitivity_chart(const StageRecord& s) {
  const json* sens = object(s.details, "sensitivity");
  const json* ratios = sens ? array(*sens, "ratios") : nullptr;
  const json* layers = sens ? array(*sens, "layers") : nullptr;
  if (!ratios || !layers) return "";
  std::vector<svg::LineSeries> lines;
  for (const json& l : *layers) {
    const json* top1 = array(l, "top1");
    const auto scope = string(l, "scope");
    if (!top1 || !scope || top1->size() != ratios->size()) continue;
    svg::LineSeries line{*scope, {}, {}};
    for (size_t i = 0; i < ratios->size(); ++i)
      if ((*ratios)[i].is_number() && (*top1)[i].is_number()) {
        line.x.push_back((*ratios)[i].get<double>() * 100);
        line.y.push_back((*top1)[i].get<double>() * 100);
      }
    if (!line.x.empty()) lines.push_back(std::move(line));
  }
  if (lines.empty()) return "";
  std::string title = "Pruning sensitivity (" + stage_label(s) + ")";
  if (auto b = number(*sens, "baseline_top1")) title += ", unpruned top-1 " + fmt("%.2f%%", *b * 100);
  return svg::line_chart({"chart-sensitivity-" + std::to_string(s.index), title, 660, 360}, lines,
                         svg::Axis{"pruning ratio", percent_text, {}, {}}, svg::Axis{"top-1", percent_text, {}, {}});
}

/// A mixed-precision sweep: each layer's loss increase at each candidate bit width
/// (details.mixed_precision.layers[].loss_increase_<bits>).
std::string mixed_precision_chart(const StageRecord& s) {
  const json* mp = object(s.details, "mixed_precision");
  const json* cands = mp ? array(*mp, "candidates") : nullptr;
  const json* layers = mp ? array(*mp, "layers") : nullptr;
  if (!cands || !layers) return "";
  std::vector<int> bits;
  for (const json& c : *cands)
    if (c.is_number_integer()) bits.push_back(c.get<int>());
  std::sort(bits.begin(), bits.end());
  std::vector<svg::LineSeries> lines;
  for (const json& l : *layers) {
    const auto scope = string(l, "layer");
    if (!scope) continue;
    const bool chosen = !l.contains("chosen") || !l["chosen"].is_boolean() || l["chosen"].get<bool>();
    svg::LineSeries line{*scope + (chosen ? "" : " (fixed)"), {}, {}};
    for (int b : bits)
      if (auto d = number(l, "loss_increase_" + std::to_string(b))) line.x.push_back(b), line.y.push_back(*d);
    if (!line.x.empty()) lines.push_back(std::move(line));
  }
  if (lines.empty()) return "";
  return svg::line_chart({"chart-mixed-precision-" + std::to_string(s.index),
                          "Mixed-precision sensitivity (" + stage_label(s) + ")", 660, 360},
                         lines, svg::Axis{"weight bits", nullptr, {}, {}},
                         svg::Axis{"loss increase", nullptr, {}, {}});
}

}  // namespace

std::vector<std::string> layer_charts(const std::vector<StageRecord>& stages) {
  std::vector<std::string> charts;
  const StageRecord *first = nullptr, *last = nullptr;
  for (const StageRecord& s : stages)
    if (!s.metrics.layers.empty()) last = &s, first = first ? first : &s;
  if (last) {
    const std::vector<ScopeRow> layers = by_scope(last->metrics.layers);
    const std::string after = "after " + stage_label(*last);
    for (std::string c : {bits_chart(layers, after), sparsity_chart(layers, after), macs_chart(*first, *last)})
      if (!c.empty()) charts.push_back(std::move(c));
  }
  for (const StageRecord& s : stages)
    for (std::string c : {rank_chart(s), cluster_chart(s)})
      if (!c.empty()) charts.push_back(std::move(c));
  return charts;
}

std::vector<std::string> sensitivity_charts(const std::vector<StageRecord>& stages) {
  std::vector<std::string> charts;
  for (const StageRecord& s : stages)
    for (std::string c : {pruning_sensitivity_chart(s), mixed_precision_chart(s)})
      if (!c.empty()) charts.push_back(std::move(c));
  return charts;
}

}  // namespace mc::report::html
