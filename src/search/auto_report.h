// report.html of an `auto` search directory: every trial against the objective, the Pareto front
// ringed and joined, the constraint, the best trial, and the table of trials with their configurations.
#pragma once
#include <string>
#include <vector>

#include "search/auto_options.h"
#include "search/trial.h"

namespace mc::search {

/// The page as HTML (one self-contained file, like the run reports).
std::string auto_report_html(const std::vector<TrialResult>& trials, const AutoOptions& options);
/// Writes out_dir/report.html atomically.
void write_auto_report(const std::string& out_dir, const std::vector<TrialResult>& trials, const AutoOptions& options);

}  // namespace mc::search
