// The chart sections of the HTML report (report.html) and of the comparison page, built from a
// report's stage records: only what the stages recorded is charted, so a section with no data
// gives no chart (never an empty one).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "report/report.h"

namespace mc::report::html {

/// "3 quantize": a stage's index and name, as the tables and chart categories name it.
std::string stage_label(const StageRecord& s);
/// ONNX Runtime's top-1 on data.val of an export stage's file (details.ort_eval, status done).
std::optional<double> ort_top1(const StageRecord& s);
/// The size on disk of the ONNX file an export stage wrote (details.bytes).
std::optional<double> onnx_bytes(const StageRecord& s);

/// Per stage: top-1 (ours and ONNX Runtime's), size, MACs, latency per batch size
/// (ids chart-top1, chart-size, chart-macs, chart-latency-b<N>).
std::vector<std::string> stage_charts(const std::vector<StageRecord>& stages);
/// Per layer: weight bits, sparsity, MACs before/after, decomposition ranks, cluster counts
/// (ids chart-layer-bits, -sparsity, -macs, -rank, -clusters).
std::vector<std::string> layer_charts(const std::vector<StageRecord>& stages);
/// Sensitivity curves: a `sensitivity` stage's top-1 against the pruning ratio, a mixed-precision
/// sweep's loss increase against the weight bits (ids chart-sensitivity-<stage>, chart-mixed-precision-<stage>).
std::vector<std::string> sensitivity_charts(const std::vector<StageRecord>& stages);

/// `compress analyze` (details.analysis): per layer, worst first, the output SQNR against float with only
/// that layer and with every layer compressed, and the top-1 points recovered by reverting it
/// (ids chart-analysis-sqnr-<stage>, chart-analysis-top1-<stage>).
std::vector<std::string> analysis_charts(const std::vector<StageRecord>& stages);

}  // namespace mc::report::html
