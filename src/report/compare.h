// Several runs side by side (`compress report RUN_DIR... --html compare.html`): one HTML page with
// a table of each run's final model and scatters of top-1 against size and against latency.
#pragma once
#include <string>
#include <vector>

#include "report/report.h"

namespace mc::report {

struct RunReport {
  std::string dir;  // the run directory, as given
  Report report;
};

/// Reads `dir`/report.json. InputError naming the file when it is missing, is not JSON, or is not a
/// compress report (the field that is wrong), with how to fix it.
RunReport read_run_report(const std::string& dir);

/// The comparison page: self-contained (inline CSS and SVG, no scripts). Runs on the Pareto front
/// (no other run is both smaller / faster and at least as accurate) are ringed in the scatters.
std::string compare_html(const std::vector<RunReport>& runs);

}  // namespace mc::report
