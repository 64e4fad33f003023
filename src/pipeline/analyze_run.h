// `compress analyze MODEL --recipe R.yaml`: runs the recipe's compressing stages on a copy of MODEL
// and analyses the compressed model layer by layer against the float one (pipeline/analyze.h),
// writing report.json / report.md / report.html to the output directory.
//
// Stages: training and output stages (train, finetune, evaluate, save, export, check_tensorrt,
// sensitivity, analyze) are skipped: analyze measures what compression did to the weights and activations
// as the stages leave them, before any fine-tuning. fold_batch_norm and optimize run (they keep
// the outputs); every other stage counts as compressing; a recipe without one is an InputError.
// The float model F is MODEL with its BatchNorms folded (exact in inference), so that a later
// `quantize` (which folds them too) keeps F's tensor names and values, and reverting a layer's
// weight means copying F's.
#pragma once
#include <string>
#include <vector>

#include "pipeline/analyze.h"
#include "pipeline/stage.h"

namespace mc::pipeline {

class DataContext;

struct AnalyzeOptions {
  std::string model_path;           // TorchScript .pt, .mcm / .mcz checkpoint or zoo:NAME
  std::string recipe_path;
  std::vector<std::string> sets;     // --set key.path=value
  std::string out_dir;              // default runs/<recipe name>_analyze
  std::vector<std::string> layers;  // scope globs of the layers analysed (default: every weight layer)
  int64_t val_samples = 0;          // first N samples of data.val for top-1 (0: all)
  int64_t sqnr_samples = 256;       // first N samples of data.calib (else data.val) for the SQNR
  int threads = -1;                 // overrides recipe.threads when >= 0
  bool quiet = false;
};

struct AnalyzeResult {
  Analysis analysis;
  std::vector<std::string> stages_run, stages_skipped;
  std::string report_path;  // the last report file written
};

/// Validates everything (recipe, data, MODEL, --layers) before anything is written: InputError
/// (exit 2) with file:line:col where there is one. Then runs the stages, analyses, writes reports.
AnalyzeResult run_analyze(const AnalyzeOptions& opts, const StageRegistry& registry);

/// The first `sqnr_samples` of data.calib (else data.val) and the first `val_samples` (0: all) of
/// data.val, unshuffled, as batches.
AnalysisData analysis_data(const DataContext& data, int64_t sqnr_samples, int64_t val_samples);

/// How analyze treats a stage: "skip" (training, output), "keep" (float-preserving) or "compress".
std::string analyze_role(const std::string& stage);

}  // namespace mc::pipeline
