// `compress analyze MODEL --recipe R.yaml`: which layer breaks accuracy? Runs the recipe's
// compressing stages on MODEL and prints, per weight layer, worst first: the output SQNR against
// the float model with only that layer compressed and with every layer compressed, and the top-1
// with that layer reverted to float (pipeline/analyze_run.h).
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/stage_registry.h"
#include "pipeline/analyze_run.h"

namespace mc::cli {
namespace {

std::string db_text(const std::optional<double>& v) {
  if (!v) return "-";
  if (std::isinf(*v)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", *v);
  return buf;
}

std::string pct_text(const std::optional<double>& v, bool sign = false) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, sign ? "%+.2f" : "%.2f", *v * 100);
  return buf;
}

void print_table(const pipeline::AnalyzeResult& r) {
  const pipeline::Analysis& a = r.analysis;
  std::printf("top-1 float %.2f%%, compressed %.2f%% (%lld val samples); SQNR on %lld samples\n", a.top1_float * 100,
              a.top1_compressed * 100, static_cast<long long>(a.val_samples), static_cast<long long>(a.sqnr_samples));
  std::printf("ranked worst first: most top-1 recovered by reverting the layer, then lowest SQNR %s\n",
              a.graph_changed ? "with every layer compressed (the recipe changes the graph, so 'only this layer' cannot be built)"
                              : "with only that layer compressed");
  std::printf("%4s  %-28s %-7s %12s %12s %14s %9s  %s\n", "rank", "layer", "op", "SQNR only dB", "SQNR cum dB",
              "top-1 reverted", "recovery", "note");
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const pipeline::LayerAnalysis& l = a.layers[i];
    std::optional<double> rec;
    if (l.top1_reverted) rec = *l.top1_reverted - a.top1_compressed;
    std::printf("%4zu  %-28s %-7s %12s %12s %14s %9s  %s\n", i + 1, l.scope.c_str(), l.op.c_str(),
                db_text(l.sqnr_only_db).c_str(), db_text(l.sqnr_cumulative_db).c_str(), pct_text(l.top1_reverted).c_str(),
                pct_text(rec, true).c_str(), l.note.c_str());
  }
  std::printf("every layer reverted vs float: output SQNR %s dB%s\n", db_text(a.revert_check_db).c_str(),
              a.revert_check_db && std::isinf(*a.revert_check_db)
                  ? " (exact)"
                  : a.revert_check_db && *a.revert_check_db > 60 ? "" : " (reverting is not exact: a stage changed weights across layers or the graph)");
  std::printf("stages run: %zu, skipped (training, output): %zu\nreport: %s\n", r.stages_run.size(), r.stages_skipped.size(),
              r.report_path.c_str());
}

}  // namespace

void add_analyze_command(CLI::App& app, CommandTable& t, const GlobalOptions& g) {
  static pipeline::AnalyzeOptions a;
  CLI::App* s = app.add_subcommand("analyze", "Which layer breaks accuracy: per-layer SQNR and top-1 with each layer reverted to float");
  s->add_option("model", a.model_path, "The float model: TorchScript .pt, .mcm checkpoint, .mcz archive or zoo:<name>")->required();
  s->add_option("--recipe", a.recipe_path, "Recipe whose compressing stages are analysed (data.val is required)")->required();
  s->add_option("--set", a.sets, "Override a recipe value: KEY.PATH=VALUE");
  s->add_option("--out", a.out_dir, "Output directory for report.json/md/html (default runs/<recipe name>_analyze)");
  s->add_option("--layers", a.layers, "Scope globs of the layers to analyse (default: every weight layer)");
  s->add_option("--val-samples", a.val_samples, "Measure top-1 on the first N samples of data.val (0: all)")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--sqnr-samples", a.sqnr_samples, "SQNR over the first N samples of data.calib (else data.val)")
      ->check(CLI::PositiveNumber);
  s->add_option("--threads", a.threads, "Intra-op threads (overrides the recipe)");
  t.add(s, [&g] {
    a.quiet = g.quiet;
    pipeline::AnalyzeResult r = pipeline::run_analyze(a, stage_registry());
    print_table(r);
    return 0;
  });
}

}  // namespace mc::cli
