// The run report: one record per pipeline stage (status, time, metrics, stage details), written as
// JSON (stable schema, docs/report-schema.md), Markdown and HTML (a self-contained page with SVG charts). from_json() reads a report back (--resume).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "report/metrics.h"

namespace mc::report {

/// Version of the JSON schema. Within a version fields are only added, never renamed or removed.
constexpr int kSchemaVersion = 1;

struct StageRecord {
  int index = 0;             // position in the recipe's `stages:` (0-based)
  std::string stage;         // stage name as the recipe writes it ("prune", "finetune", ...)
  std::string status;        // "done" | "failed" | "skipped"
  double seconds = 0.0;      // wall time of the stage
  Metrics metrics;           // model metrics after the stage
  nlohmann::json details = nlohmann::json::object();  // stage-specific facts, e.g. {"epochs": 3, "final_loss": 0.41}
};

class Report {
 public:
  std::string recipe_name, recipe_hash, model_source, created_at, tool_version;
  int64_t world_size = 1;  // processes of a data-parallel run (1: a plain run)
  std::vector<StageRecord> stages;

  /// The documented schema (schema_version 1), summary included.
  nlohmann::json to_json() const;
  /// Reads what to_json() wrote: to_json(from_json(j)) == j. Derived fields (sparsity, ratios,
  /// summary) are recomputed, unknown fields ignored. InputError naming the field when malformed
  /// or when schema_version is not 1.
  static Report from_json(const nlohmann::json& j);
  /// Title, run facts, a summary table (one row per stage), the change from baseline to final,
  /// stage details, and per-layer tables (last measured stage open, earlier ones collapsed).
  std::string to_markdown() const;
  /// One self-contained HTML page (inline CSS and SVG, no scripts): the summary table, charts of
  /// top-1 / size / MACs / latency per stage, per-layer charts (bits, sparsity, MACs, ranks,
  /// clusters) and sensitivity curves where the stages recorded them, and the stage details.
  std::string to_html() const;
  /// Writes `dir`/report.json, report.md and/or report.html (formats "json", "md"/"markdown", "html"), each
  /// atomically. Checks every format and the directory first: InputError (and no file written)
  /// for an unknown format or a missing directory.
  void write(const std::string& dir, const std::vector<std::string>& formats) const;

  /// Formats write() accepts, for recipe validation before a run starts.
  static const std::vector<std::string>& supported_formats();
  /// File name written for a format ("report.json", "report.md", "report.html"); InputError when unknown.
  static std::string file_name(const std::string& format);
};

/// The stages that the summary compares: the first and the last stage whose status is "done"
/// (nullptr when none).
const StageRecord* baseline_stage(const std::vector<StageRecord>& stages);
const StageRecord* final_stage(const std::vector<StageRecord>& stages);

/// Metrics as the schema writes them (derived fields included) and back.
nlohmann::json metrics_to_json(const Metrics& m);
nlohmann::json layers_to_json(const std::vector<LayerRow>& layers);

/// Current UTC time as ISO 8601, "2024-05-01T12:34:56Z" (for Report::created_at).
std::string utc_timestamp();

}  // namespace mc::report
