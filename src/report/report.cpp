// Report <-> JSON (schema_version 1, docs/report-schema.md) and writing the report files.
#include "report/report.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <ostream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace mc::report {

using nlohmann::json;

namespace {

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// ---- reading, with the failing field's path in every message ----

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw InputError("report JSON: field '" + path + "' " + what +
                   " (the file is not a compress report of schema_version 1, or it was edited by hand)");
}

const json& field(const json& obj, const std::string& key, const std::string& path) {
  if (!obj.is_object()) bad(path, "must be an object");
  auto it = obj.find(key);
  if (it == obj.end()) bad(path.empty() ? key : path + "." + key, "is missing");
  return *it;
}

std::string sub(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::string get_string(const json& obj, const std::string& key, const std::string& path) {
  const json& v = field(obj, key, path);
  if (!v.is_string()) bad(sub(path, key), "must be a string");
  return v.get<std::string>();
}

int64_t get_int(const json& obj, const std::string& key, const std::string& path) {
  const json& v = field(obj, key, path);
  if (!v.is_number_integer()) bad(sub(path, key), "must be an integer");
  return v.get<int64_t>();
}

double get_double(const json& obj, const std::string& key, const std::string& path) {
  const json& v = field(obj, key, path);
  if (!v.is_number()) bad(sub(path, key), "must be a number");
  return v.get<double>();
}

std::optional<double> get_optional(const json& obj, const std::string& key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) bad(sub(path, key), "must be a number or null");
  return it->get<double>();
}

const json& get_array(const json& obj, const std::string& key, const std::string& path) {
  const json& v = field(obj, key, path);
  if (!v.is_array()) bad(sub(path, key), "must be an array");
  return v;
}

LayerRow layer_from_json(const json& j, const std::string& path) {
  LayerRow r;
  r.scope = get_string(j, "scope", path);
  r.op = get_string(j, "op", path);
  const json& shape = get_array(j, "output_shape", path);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (!shape[i].is_number_integer()) bad(sub(path, "output_shape") + "[" + std::to_string(i) + "]", "must be an integer");
    r.output_shape.push_back(shape[i].get<int64_t>());
  }
  r.params = get_int(j, "params", path);
  r.nonzero_params = get_int(j, "nonzero_params", path);
  r.macs = get_int(j, "macs", path);
  r.bits = static_cast<int>(get_int(j, "bits", path));
  return r;
}

Metrics metrics_from_json(const json& j, const std::string& path) {
  if (!j.is_object()) bad(path, "must be an object");
  Metrics m;
  m.top1 = get_optional(j, "top1", path);
  m.top5 = get_optional(j, "top5", path);
  m.loss = get_optional(j, "loss", path);
  m.params = get_int(j, "params", path);
  m.nonzero_params = get_int(j, "nonzero_params", path);
  m.macs = get_int(j, "macs", path);
  m.bytes_fp32 = get_int(j, "bytes_fp32", path);
  m.bytes_stored = get_int(j, "bytes_stored", path);
  const json& lat = field(j, "latency_ms", path);
  if (!lat.is_object()) bad(sub(path, "latency_ms"), "must be an object of batch size -> ms");
  for (auto it = lat.begin(); it != lat.end(); ++it) {
    std::string lp = sub(path, "latency_ms") + "." + it.key();
    int64_t batch = 0;
    try {
      size_t used = 0;
      batch = std::stoll(it.key(), &used);
      if (used != it.key().size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      bad(lp, "must be keyed by a batch size (an integer)");
    }
    if (!it.value().is_number()) bad(lp, "must be a number of milliseconds");
    m.latency_ms[batch] = it.value().get<double>();
  }
  return m;
}

}  // namespace

json metrics_to_json(const Metrics& m) {
  json lat = json::object();
  for (auto& [batch, ms] : m.latency_ms) lat[std::to_string(batch)] = ms;
  return json{{"top1", optional_number(m.top1)},
              {"top5", optional_number(m.top5)},
              {"loss", optional_number(m.loss)},
              {"params", m.params},
              {"nonzero_params", m.nonzero_params},
              {"sparsity", m.sparsity()},
              {"macs", m.macs},
              {"bytes_fp32", m.bytes_fp32},
              {"bytes_stored", m.bytes_stored},
              {"compression_ratio", optional_number(m.compression_ratio())},
              {"latency_ms", lat}};
}

json layers_to_json(const std::vector<LayerRow>& layers) {
  json out = json::array();
  for (const LayerRow& r : layers) {
    double sparsity = r.params > 0 ? 1.0 - static_cast<double>(r.nonzero_params) / static_cast<double>(r.params) : 0.0;
    out.push_back(json{{"scope", r.scope},
                       {"op", r.op},
                       {"output_shape", r.output_shape},
                       {"params", r.params},
                       {"nonzero_params", r.nonzero_params},
                       {"sparsity", sparsity},
                       {"macs", r.macs},
                       {"bits", r.bits}});
  }
  return out;
}

const StageRecord* baseline_stage(const std::vector<StageRecord>& stages) {
  for (const StageRecord& s : stages)
    if (s.status == "done") return &s;
  return nullptr;
}

const StageRecord* final_stage(const std::vector<StageRecord>& stages) {
  for (auto it = stages.rbegin(); it != stages.rend(); ++it)
    if (it->status == "done") return &*it;
  return nullptr;
}

namespace {

json summary_json(const std::vector<StageRecord>& stages) {
  const StageRecord* b = baseline_stage(stages);
  const StageRecord* f = final_stage(stages);
  json deltas = {{"top1", nullptr}, {"top5", nullptr}, {"size_ratio", nullptr}, {"speedup", json::object()}};
  if (b && f) {
    const Metrics& mb = b->metrics;
    const Metrics& mf = f->metrics;
    if (mb.top1 && mf.top1) deltas["top1"] = *mf.top1 - *mb.top1;
    if (mb.top5 && mf.top5) deltas["top5"] = *mf.top5 - *mb.top5;
    if (mb.bytes_stored > 0) deltas["size_ratio"] = static_cast<double>(mf.bytes_stored) / static_cast<double>(mb.bytes_stored);
    for (auto& [batch, ms] : mf.latency_ms) {
      auto it = mb.latency_ms.find(batch);
      if (it != mb.latency_ms.end() && ms > 0) deltas["speedup"][std::to_string(batch)] = it->second / ms;
    }
  }
  return json{{"baseline_stage", b ? json(b->index) : json(nullptr)},
              {"final_stage", f ? json(f->index) : json(nullptr)},
              {"baseline", b ? metrics_to_json(b->metrics) : json(nullptr)},
              {"final", f ? metrics_to_json(f->metrics) : json(nullptr)},
              {"deltas", deltas}};
}

}  // namespace

json Report::to_json() const {
  json st = json::array();
  for (const StageRecord& s : stages) {
    st.push_back(json{{"index", s.index},
                      {"stage", s.stage},
                      {"status", s.status},
                      {"seconds", s.seconds},
                      {"metrics", metrics_to_json(s.metrics)},
                      {"layers", layers_to_json(s.metrics.layers)},
                      {"details", s.details.is_null() ? json::object() : s.details}});
  }
  return json{{"schema_version", kSchemaVersion},
              {"tool", {{"name", "compress"}, {"version", tool_version}}},
              {"recipe", {{"name", recipe_name}, {"hash", recipe_hash}}},
              {"model", {{"source", model_source}}},
              {"created_at", created_at},
              {"world_size", world_size},
              {"stages", st},
              {"summary", summary_json(stages)}};
}

Report Report::from_json(const json& j) {
  if (!j.is_object()) bad("(top level)", "must be an object");
  auto sv = j.find("schema_version");
  if (sv == j.end() || !sv->is_number_integer())
    bad("schema_version", "is missing or not an integer");
  if (sv->get<int64_t>() != kSchemaVersion)
    throw InputError("report JSON has schema_version " + std::to_string(sv->get<int64_t>()) + "; this compress reads " +
                     std::to_string(kSchemaVersion) + " (start the run afresh instead of resuming it)");
  Report r;
  r.tool_version = get_string(field(j, "tool", ""), "version", "tool");
  r.recipe_name = get_string(field(j, "recipe", ""), "name", "recipe");
  r.recipe_hash = get_string(field(j, "recipe", ""), "hash", "recipe");
  r.model_source = get_string(field(j, "model", ""), "source", "model");
  r.created_at = get_string(j, "created_at", "");
  r.world_size = j.contains("world_size") ? get_int(j, "world_size", "") : 1;  // reports before data-parallel runs: 1
  const json& st = get_array(j, "stages", "");
  for (size_t i = 0; i < st.size(); ++i) {
    std::string path = "stages[" + std::to_string(i) + "]";
    const json& s = st[i];
    if (!s.is_object()) bad(path, "must be an object");
    StageRecord rec;
    rec.index = static_cast<int>(get_int(s, "index", path));
    rec.stage = get_string(s, "stage", path);
    rec.status = get_string(s, "status", path);
    if (rec.status != "done" && rec.status != "failed" && rec.status != "skipped")
      bad(path + ".status", "must be \"done\", \"failed\" or \"skipped\", not \"" + rec.status + "\"");
    rec.seconds = get_double(s, "seconds", path);
    rec.metrics = metrics_from_json(field(s, "metrics", path), path + ".metrics");
    const json& layers = get_array(s, "layers", path);
    for (size_t k = 0; k < layers.size(); ++k)
      rec.metrics.layers.push_back(layer_from_json(layers[k], path + ".layers[" + std::to_string(k) + "]"));
    auto d = s.find("details");
    rec.details = (d == s.end() || d->is_null()) ? json::object() : *d;
    r.stages.push_back(std::move(rec));
  }
  return r;
}

const std::vector<std::string>& Report::supported_formats() {
  static const std::vector<std::string> kFormats = {"json", "md", "markdown", "html"};
  return kFormats;
}

std::string Report::file_name(const std::string& format) {
  if (format == "json") return "report.json";
  if (format == "md" || format == "markdown") return "report.md";
  if (format == "html") return "report.html";
  throw InputError("unknown report format '" + format + "' (supported: json, md, html)");
}

void Report::write(const std::string& dir, const std::vector<std::string>& formats) const {
  namespace fs = std::filesystem;
  // Everything is checked before the first file is written.
  std::vector<std::string> names;
  for (const std::string& f : formats) {
    std::string n = file_name(f);
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError("cannot write the report: directory '" + dir + "' does not exist (create it or choose another run directory)");
  for (const std::string& n : names) {
    std::string path = (fs::path(dir) / n).string();
    const std::string text = n == "report.json" ? to_json().dump(2) + "\n" : n == "report.html" ? to_html() : to_markdown();
    write_file_atomically(path, [&](std::ostream& out) { out << text; });
  }
}

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace mc::report
