// Report -> Markdown: padded pipe tables, so the file reads as well in a terminal as rendered.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "ir/types.h"
#include "report/format.h"
#include "report/report.h"

namespace mc::report {

namespace {

struct Table {
  std::vector<std::string> header;
  std::vector<bool> right;  // right-aligned (numbers)
  std::vector<std::vector<std::string>> rows;

  std::string render() const {
    std::vector<size_t> width(header.size(), 3);
    for (size_t c = 0; c < header.size(); ++c) width[c] = std::max(width[c], header[c].size());
    for (auto& r : rows)
      for (size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], r[c].size());
    auto cell = [&](const std::string& s, size_t c) {
      std::string pad(width[c] - std::min(width[c], s.size()), ' ');
      return right[c] ? pad + s : s + pad;
    };
    std::ostringstream out;
    out << "|";
    for (size_t c = 0; c < header.size(); ++c) out << " " << cell(header[c], c) << " |";
    out << "\n|";
    for (size_t c = 0; c < header.size(); ++c)
      out << (right[c] ? " " + std::string(width[c] - 1, '-') + ": |" : " " + std::string(width[c], '-') + " |");
    out << "\n";
    for (auto& r : rows) {
      out << "|";
      for (size_t c = 0; c < header.size(); ++c) out << " " << cell(c < r.size() ? r[c] : "", c) << " |";
      out << "\n";
    }
    return out.str();
  }
};

std::string escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n') out += ' ';
    else out += ch;
  }
  return out;
}

// Stage details (free-form JSON from each stage) as Markdown: scalars and short lists as a bullet
// list, arrays of objects (per-epoch figures, per-layer choices, sensitivity rows) as tables,
// nested objects as indented lists.
std::string scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return escape(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d != 0.0 && (std::abs(d) >= 1e6 || std::abs(d) < 1e-3)) return fmt("%.3e", d);
    return fmt(std::abs(d) >= 100 ? "%.1f" : "%.4g", d);
  }
  if (v.is_null()) return "-";
  return "`" + escape(v.dump()) + "`";
}

bool is_scalar(const nlohmann::json& v) { return !v.is_object() && !v.is_array(); }

bool is_table(const nlohmann::json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const auto& e : v) {
    if (!e.is_object()) return false;
    for (auto it = e.begin(); it != e.end(); ++it)
      if (!is_scalar(it.value()) && !(it.value().is_array() && it.value().size() <= 8)) return false;
  }
  return true;
}

std::string json_table(const nlohmann::json& rows) {
  Table t;
  std::vector<std::string> keys;  // first-seen order over all rows
  for (const auto& r : rows)
    for (auto it = r.begin(); it != r.end(); ++it)
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
  for (const auto& k : keys) {
    t.header.push_back(escape(k));
    bool numeric = true;
    for (const auto& r : rows)
      if (r.contains(k) && !r[k].is_number()) numeric = false;
    t.right.push_back(numeric);
  }
  for (const auto& r : rows) {
    std::vector<std::string> row;
    for (const auto& k : keys) row.push_back(r.contains(k) ? scalar_text(r[k]) : "");
    t.rows.push_back(std::move(row));
  }
  return t.render();
}

void render_details(std::ostringstream& out, const nlohmann::json& obj, const std::string& indent,
                    std::vector<std::pair<std::string, const nlohmann::json*>>& tables) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const nlohmann::json& v = it.value();
    if (is_table(v)) {
      tables.emplace_back(it.key(), &v);
      out << indent << "- " << escape(it.key()) << ": table below (" << v.size() << " rows)\n";
    } else if (v.is_object()) {
      out << indent << "- " << escape(it.key()) << ":" << (v.empty() ? " -" : "") << "\n";
      render_details(out, v, indent + "  ", tables);
    } else if (v.is_array()) {
      std::string items;
      for (size_t i = 0; i < v.size(); ++i) items += (i ? ", " : "") + scalar_text(v[i]);
      out << indent << "- " << escape(it.key()) << ": " << (v.empty() ? "-" : items) << "\n";
    } else {
      out << indent << "- " << escape(it.key()) << ": " << scalar_text(v) << "\n";
    }
  }
}

std::string details_markdown(const nlohmann::json& details) {
  std::ostringstream out;
  std::vector<std::pair<std::string, const nlohmann::json*>> tables;
  if (details.is_object()) render_details(out, details, "", tables);
  else out << "- " << scalar_text(details) << "\n";
  for (auto& [name, rows] : tables) out << "\n" << escape(name) << ":\n\n" << json_table(*rows);
  return out.str();
}

std::string stage_title(const StageRecord& s) { return std::to_string(s.index) + " " + s.stage; }

std::string layer_table(const std::vector<LayerRow>& layers) {
  Table t;
  t.header = {"Scope", "Op", "Output", "Params", "Non-zero", "Sparsity", "MACs", "Bits"};
  t.right = {false, false, false, true, true, true, true, true};
  for (const LayerRow& r : layers) {
    double sp = r.params > 0 ? 1.0 - static_cast<double>(r.nonzero_params) / static_cast<double>(r.params) : 0.0;
    t.rows.push_back({r.scope.empty() ? "(no scope)" : escape(r.scope), escape(r.op), ir::shape_str(r.output_shape),
                      human_count(r.params), human_count(r.nonzero_params), r.params > 0 ? fmt("%.1f%%", sp * 100) : "-",
                      human_count(r.macs), std::to_string(r.bits)});
  }
  return t.render();
}

// One line per stage whose details hold `ort_eval` (export stages): the exported file's top-1 in
// ONNX Runtime beside ours on the same images, or why it was not measured.
std::string deployment_lines(const std::vector<StageRecord>& stages) {
  std::ostringstream out;
  for (const StageRecord& s : stages) {
    if (!s.details.is_object() || !s.details.contains("ort_eval") || !s.details["ort_eval"].is_object()) continue;
    const nlohmann::json& e = s.details["ort_eval"];
    std::string file = s.details.contains("onnx") && s.details["onnx"].is_string() ? s.details["onnx"].get<std::string>() : "";
    file = file.substr(file.find_last_of('/') + 1);
    out << "- Stage " << stage_title(s) << (file.empty() ? "" : " (`" + escape(file) + "`)") << ": ";
    if (e.value("status", "") == "done") {
      out << "ONNX Runtime " << escape(e.value("onnxruntime", "")) << " top-1 " << percent(e.value("top1_ort", 0.0))
          << ", ours " << percent(e.value("top1_ours", 0.0)) << " on the same " << e.value("count", int64_t(0))
          << " images, same top-1 class on " << percent(e.value("top1_agreement", 0.0)) << "\n";
    } else {
      out << "ONNX Runtime top-1 not measured: " << escape(e.value("reason", e.value("status", ""))) << "\n";
    }
  }
  return out.str();
}

// `compress analyze` (details.analysis): one row per layer, worst first, with the output SQNR
// against float (only that layer compressed; every layer compressed) and the top-1 with it reverted.
std::string analysis_tables(const std::vector<StageRecord>& stages) {
  std::ostringstream out;
  auto num = [](const nlohmann::json& r, const char* k, const char* f, double scale) {
    return r.contains(k) && r[k].is_number() ? fmt(f, r[k].get<double>() * scale) : std::string("-");
  };
  for (const StageRecord& s : stages) {
    if (!s.details.is_object() || !s.details.contains("analysis") || !s.details["analysis"].is_object()) continue;
    const nlohmann::json& a = s.details["analysis"];
    if (!a.contains("layers") || !a["layers"].is_array()) continue;
    out << "Stage " << stage_title(s) << ": top-1 float " << num(a, "top1_float", "%.2f%%", 100) << ", compressed "
        << num(a, "top1_compressed", "%.2f%%", 100) << "; every layer reverted against float: "
        << (a.value("revert_exact", false) ? std::string("identical output")
                                           : "output SQNR " + num(a, "revert_check_db", "%.1f dB", 1))
        << "\n\n";
    Table t;
    t.header = {"Rank", "Layer", "Op", "SQNR only (dB)", "SQNR cumulative (dB)", "Top-1 reverted", "Recovery (pt)", "Note"};
    t.right = {true, false, false, true, true, true, true, false};
    for (const nlohmann::json& r : a["layers"]) {
      if (!r.is_object()) continue;
      t.rows.push_back({num(r, "rank", "%.0f", 1), escape(r.value("layer", "")), escape(r.value("op", "")),
                        num(r, "sqnr_only_db", "%.2f", 1), num(r, "sqnr_cumulative_db", "%.2f", 1),
                        num(r, "top1_reverted", "%.2f%%", 100), num(r, "recovery", "%+.2f", 100),
                        escape(r.value("note", ""))});
    }
    out << t.render() << "\n";
  }
  return out.str();
}

// One line per stage whose details hold the written ONNX file's `onnx`, `bytes` and `bytes_fp32` (export
// stages): the file's size beside the same graph with float32 weights, and with its sparse
// initializers dense when it has any.
std::string onnx_size_lines(const std::vector<StageRecord>& stages) {
  std::ostringstream out;
  for (const StageRecord& s : stages) {
    const nlohmann::json& d = s.details;
    if (!d.is_object() || !d.contains("onnx") || !d.contains("bytes") || !d.contains("bytes_fp32") ||
        !d["bytes"].is_number_integer() || !d["bytes_fp32"].is_number_integer())
      continue;
    const int64_t bytes = d["bytes"].get<int64_t>(), fp32 = d["bytes_fp32"].get<int64_t>();
    std::string file = d.contains("onnx") && d["onnx"].is_string() ? d["onnx"].get<std::string>() : "";
    file = file.substr(file.find_last_of('/') + 1);
    out << "- ONNX file of stage " << stage_title(s) << (file.empty() ? "" : " (`" + escape(file) + "`)") << ": "
        << human_bytes(bytes) << " (" << bytes << " bytes); with float32 weights " << human_bytes(fp32) << " ("
        << fp32 << " bytes)";
    if (bytes > 0 && fp32 != bytes) out << ", " << fmt("%.2fx", static_cast<double>(fp32) / static_cast<double>(bytes)) << " smaller";
    if (d.contains("sparse_initializers") && d["sparse_initializers"].is_number_integer() &&
        d["sparse_initializers"].get<int64_t>() > 0 && d.contains("bytes_dense") && d["bytes_dense"].is_number_integer())
      out << "; " << d["sparse_initializers"].get<int64_t>() << " sparse initializers, "
          << human_bytes(d["bytes_dense"].get<int64_t>()) << " (" << d["bytes_dense"].get<int64_t>()
          << " bytes) with them dense";
    out << "\n";
  }
  return out.str();
}

}  // namespace

std::string Report::to_markdown() const {
  std::ostringstream out;
  out << "# Compression report: " << (recipe_name.empty() ? "(unnamed recipe)" : recipe_name) << "\n\n";
  out << "- Recipe: `" << recipe_name << "`" << (recipe_hash.empty() ? "" : " (hash `" + recipe_hash + "`)") << "\n";
  if (!model_source.empty()) out << "- Model: `" << model_source << "`\n";
  if (!created_at.empty()) out << "- Created: " << created_at << "\n";
  out << "- Tool: compress " << (tool_version.empty() ? "(unknown version)" : tool_version) << "\n\n";

  // Summary: one row per stage; one latency column per batch size measured anywhere.
  std::set<int64_t> batches;
  for (const StageRecord& s : stages)
    for (auto& [b, v] : s.metrics.latency_ms) batches.insert(b);
  Table t;
  t.header = {"#", "Stage", "Status", "Top-1", "Top-5", "Params", "Non-zero", "Size fp32 / stored", "MACs"};
  t.right = {true, false, false, true, true, true, true, true, true};
  for (int64_t b : batches) {
    t.header.push_back("Latency b" + std::to_string(b) + " (ms)");
    t.right.push_back(true);
  }
  t.header.push_back("Time");
  t.right.push_back(true);
  for (const StageRecord& s : stages) {
    const Metrics& m = s.metrics;
    std::vector<std::string> row = {std::to_string(s.index), escape(s.stage), escape(s.status), percent(m.top1),
                                    percent(m.top5), human_count(m.params), human_count(m.nonzero_params),
                                    human_bytes(m.bytes_fp32) + " / " + human_bytes(m.bytes_stored), human_count(m.macs)};
    for (int64_t b : batches) {
      auto it = m.latency_ms.find(b);
      row.push_back(it == m.latency_ms.end() ? "-" : ms(it->second));
    }
    row.push_back(seconds(s.seconds));
    t.rows.push_back(std::move(row));
  }
  out << "## Summary\n\n";
  if (stages.empty()) {
    out << "No stages ran.\n\n";
  } else {
    out << t.render() << "\n";
    const std::string onnx_sizes = onnx_size_lines(stages);
    if (!onnx_sizes.empty()) out << onnx_sizes << "\n";
  }

  const StageRecord* b = baseline_stage(stages);
  const StageRecord* f = final_stage(stages);
  if (b && f && b != f) {
    const Metrics& mb = b->metrics;
    const Metrics& mf = f->metrics;
    out << "Final (stage " << stage_title(*f) << ") against baseline (stage " << stage_title(*b) << "):\n\n";
    if (mb.top1 && mf.top1) out << "- Top-1: " << fmt("%+.2f", (*mf.top1 - *mb.top1) * 100) << " points\n";
    if (mb.top5 && mf.top5) out << "- Top-5: " << fmt("%+.2f", (*mf.top5 - *mb.top5) * 100) << " points\n";
    if (mb.bytes_stored > 0 && mf.bytes_stored > 0)
      out << "- Size: " << human_bytes(mb.bytes_stored) << " -> " << human_bytes(mf.bytes_stored) << " ("
          << fmt("%.2fx", static_cast<double>(mb.bytes_stored) / static_cast<double>(mf.bytes_stored)) << " smaller)\n";
    if (mb.params > 0)
      out << "- Non-zero params: " << human_count(mb.nonzero_params) << " -> " << human_count(mf.nonzero_params)
          << " (sparsity " << fmt("%.1f%%", mf.sparsity() * 100) << ")\n";
    for (auto& [batch, v] : mf.latency_ms) {
      auto it = mb.latency_ms.find(batch);
      if (it != mb.latency_ms.end() && v > 0)
        out << "- Latency at batch " << batch << ": " << ms(it->second) << " ms -> " << ms(v) << " ms ("
            << fmt("%.2fx", it->second / v) << " speedup)\n";
    }
    out << "\n";
  }

  const std::string deployment = deployment_lines(stages);
  if (!deployment.empty()) out << "## Deployment accuracy (ONNX Runtime, data.val)\n\n" << deployment << "\n";

  const std::string analysis = analysis_tables(stages);
  if (!analysis.empty()) out << "## Which layer breaks accuracy\n\n" << analysis;

  bool any_details = false;
  for (const StageRecord& s : stages) any_details |= s.details.is_object() ? !s.details.empty() : !s.details.is_null();
  if (any_details) {
    out << "## Stage details\n\n";
    for (const StageRecord& s : stages) {
      if (s.details.is_null() || (s.details.is_object() && s.details.empty())) continue;
      out << "### " << stage_title(s) << "\n\n" << details_markdown(s.details) << "\n";
    }
  }

  // Per-layer tables: the last stage that has them in full, earlier ones collapsed.
  const StageRecord* last = nullptr;
  for (const StageRecord& s : stages)
    if (!s.metrics.layers.empty()) last = &s;
  if (last) {
    out << "## Layers after stage " << stage_title(*last) << "\n\n" << layer_table(last->metrics.layers) << "\n";
    for (const StageRecord& s : stages) {
      if (&s == last || s.metrics.layers.empty()) continue;
      out << "<details><summary>Layers after stage " << stage_title(s) << "</summary>\n\n"
          << layer_table(s.metrics.layers) << "\n</details>\n\n";
    }
  }
  std::string text = out.str();
  while (text.size() > 1 && text[text.size() - 1] == '\n' && text[text.size() - 2] == '\n') text.pop_back();
  return text;
}

}  // namespace mc::report
