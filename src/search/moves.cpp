#include "search/moves.h"

#include <algorithm>
#include <map>

#include "pipeline/layer_select.h"

namespace mc::search {

std::vector<pipeline::SweepCandidate> sweep_candidates(const AutoOptions& options, const ir::Model& model) {
  const std::vector<std::string> present = pipeline::scopes_of(pipeline::find_weight_layers(model));
  std::vector<pipeline::SweepCandidate> out;
  for (const Knob& k : knob_table()) {
    if (std::find(options.knobs.begin(), options.knobs.end(), k.name) == options.knobs.end()) continue;
    for (const std::string& target : k.targets(model))
      for (const std::string& setting : k.settings) {
        const std::vector<StageText> stages = k.stages({{target, setting}}, present, options);
        if (stages.size() != 1) continue;
        // no recovery fine-tune for kernel-speed knobs (quantization): trials apply them after theirs
        out.push_back({k.name, target, setting, stages[0].name, stages[0].options, !k.kernel_speed});
      }
  }
  return out;
}

double move_gain(const pipeline::SweepRow& r, const pipeline::SweepBaseline& baseline, const AutoOptions& options) {
  if (options.objective == "bytes") return static_cast<double>(baseline.bytes_stored - r.bytes_stored);
  if (options.objective == "ort_latency" && baseline.cost > 0 && r.cost > 0) return baseline.cost - r.cost;
  return static_cast<double>(baseline.macs - r.macs);
}

double baseline_measure(const pipeline::SweepBaseline& baseline, const AutoOptions& options) {
  if (options.objective == "bytes") return static_cast<double>(baseline.bytes_stored);
  if (options.objective == "ort_latency" && baseline.cost > 0) return baseline.cost;
  return static_cast<double>(baseline.macs);
}

std::vector<RankedMove> rank_moves(const std::vector<pipeline::SweepRow>& rows, const pipeline::SweepBaseline& baseline,
                                   const AutoOptions& options) {
  std::vector<RankedMove> out;
  // A drop below one image of the subset is noise: the gain is divided by at least that.
  const double floor = 1.0 / static_cast<double>(std::max<int64_t>(baseline.count, 1));
  for (const pipeline::SweepRow& r : rows) {
    if (!r.ok) continue;
    const Knob* k = find_knob(r.candidate.knob);
    if (!k || (k->kernel_speed && options.objective == "ort_latency")) continue;
    const double gain = move_gain(r, baseline, options);
    if (gain <= 0) continue;
    RankedMove m;
    m.move = {r.candidate.knob, r.candidate.layer, r.candidate.setting};
    m.gain = gain;
    m.drop = baseline.top1 - r.top1;
    m.score = gain / std::max(m.drop, floor);
    out.push_back(m);
  }
  std::stable_sort(out.begin(), out.end(), [](const RankedMove& a, const RankedMove& b) { return a.score > b.score; });
  if (out.size() > static_cast<size_t>(options.max_moves)) out.resize(static_cast<size_t>(options.max_moves));
  return out;
}

namespace {

// One move per (knob, layer): the one with the larger gain (settings are ranked by their own
// sweep rows, so the larger gain is the more aggressive setting); then the moves on layers inside
// a block that a prune_blocks move removes are dropped. Sorted, so equal configurations compare equal.
std::vector<Move> normalise(const std::vector<std::pair<Move, double>>& moves) {
  std::map<std::pair<std::string, std::string>, std::pair<Move, double>> best;
  for (const auto& [m, gain] : moves) {
    auto key = std::make_pair(m.knob, m.layer);
    auto it = best.find(key);
    if (it == best.end() || gain > it->second.second) best[key] = {m, gain};
  }
  std::vector<std::string> removed;
  for (const auto& [key, mg] : best) {
    const Knob* k = find_knob(key.first);
    if (k && k->removes_layers) removed.push_back(key.second);
  }
  std::vector<Move> out;
  for (const auto& [key, mg] : best) {
    const Knob* k = find_knob(key.first);
    bool gone = false;
    if (!(k && k->removes_layers))
      for (const std::string& b : removed) gone = gone || within(key.second, b);
    if (!gone) out.push_back(mg.first);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<Move> prefix_config(const std::vector<RankedMove>& ranked, size_t n) {
  std::vector<std::pair<Move, double>> moves;
  for (size_t i = 0; i < n && i < ranked.size(); ++i) moves.push_back({ranked[i].move, ranked[i].gain});
  return normalise(moves);
}

std::vector<Move> with_move(const std::vector<Move>& config, const Move& extra) {
  std::vector<std::pair<Move, double>> moves;
  for (const Move& m : config)
    if (!(m.knob == extra.knob && m.layer == extra.layer)) moves.push_back({m, 0.0});
  moves.push_back({extra, 0.0});
  return normalise(moves);
}

std::vector<Move> kernel_moves(const std::vector<pipeline::SweepRow>& rows, const pipeline::SweepBaseline& baseline,
                               double max_drop) {
  std::vector<Move> out;
  for (const pipeline::SweepRow& r : rows) {
    const Knob* k = find_knob(r.candidate.knob);
    if (!r.ok || !k || !k->kernel_speed || r.candidate.setting != k->settings.front()) continue;
    if (baseline.top1 - r.top1 <= max_drop) out.push_back({r.candidate.knob, r.candidate.layer, r.candidate.setting});
  }
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json sweep_to_json(const pipeline::SweepBaseline& baseline, const std::vector<pipeline::SweepRow>& rows,
                             const nlohmann::json& settings) {
  nlohmann::json j = {{"settings", settings},
                      {"baseline",
                       {{"top1", baseline.top1}, {"macs", baseline.macs}, {"bytes_stored", baseline.bytes_stored},
                        {"params", baseline.params}, {"count", baseline.count}, {"cost", baseline.cost}}},
                      {"rows", nlohmann::json::array()}};
  for (const auto& r : rows) {
    nlohmann::json row = {{"knob", r.candidate.knob}, {"layer", r.candidate.layer}, {"setting", r.candidate.setting},
                          {"stage", r.candidate.stage}, {"options", r.candidate.options.to_yaml()}, {"ok", r.ok},
                          {"seconds", r.seconds}};
    if (r.ok) {
      row["top1"] = r.top1;
      row["macs"] = r.macs;
      row["bytes_stored"] = r.bytes_stored;
      row["params"] = r.params;
      row["bn_seconds"] = r.bn_seconds;
      row["top1_before_recovery"] = r.top1_before_recovery;
      row["recovery_seconds"] = r.recovery_seconds;
      row["cost"] = r.cost;
      row["extended"] = r.extended;
    } else {
      row["error"] = r.error;
    }
    j["rows"].push_back(row);
  }
  return j;
}

bool sweep_from_json(const nlohmann::json& j, const std::vector<pipeline::SweepCandidate>& candidates,
                     const nlohmann::json& settings, pipeline::SweepBaseline& baseline,
                     std::vector<pipeline::SweepRow>& rows) {
  try {
    if (!j.contains("settings") || j.at("settings") != settings) return false;
    const auto& b = j.at("baseline");
    baseline = {b.at("top1").get<double>(), b.at("macs").get<int64_t>(), b.at("bytes_stored").get<int64_t>(),
                b.at("params").get<int64_t>(), b.at("count").get<int64_t>(), b.value("cost", 0.0)};
    const auto& rs = j.at("rows");
    if (rs.size() != candidates.size()) return false;
    rows.clear();
    for (size_t i = 0; i < candidates.size(); ++i) {
      const auto& r = rs[i];
      const auto& c = candidates[i];
      if (r.at("knob") != c.knob || r.at("layer") != c.layer || r.at("setting") != c.setting ||
          r.at("options") != c.options.to_yaml())
        return false;
      pipeline::SweepRow row;
      row.candidate = c;
      row.ok = r.at("ok").get<bool>();
      row.seconds = r.at("seconds").get<double>();
      if (row.ok) {
        row.top1 = r.at("top1").get<double>();
        row.macs = r.at("macs").get<int64_t>();
        row.bytes_stored = r.at("bytes_stored").get<int64_t>();
        row.params = r.at("params").get<int64_t>();
        row.bn_seconds = r.value("bn_seconds", 0.0);
        row.top1_before_recovery = r.value("top1_before_recovery", row.top1);
        row.recovery_seconds = r.value("recovery_seconds", 0.0);
        row.cost = r.value("cost", 0.0);
        row.extended = r.value("extended", false);
      } else {
        row.error = r.value("error", "");
      }
      rows.push_back(row);
    }
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace mc::search
