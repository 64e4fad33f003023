#include "pipeline/analyze_run.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "ir/passes/fold_batch_norm.h"
#include "pipeline/data_context.h"
#include "pipeline/layer_select.h"
#include "pipeline/runner.h"
#include "report/metrics.h"
#include "report/report.h"
#include "train/modifier.h"
#include "train/threads.h"

namespace mc::pipeline {
namespace fs = std::filesystem;

std::string analyze_role(const std::string& stage) {
  static const std::set<std::string> kSkip = {"train",          "finetune",    "evaluate", "save", "export",
                                              "check_tensorrt", "sensitivity", "analyze"};
  static const std::set<std::string> kKeep = {"fold_batch_norm", "optimize"};
  if (kSkip.count(stage)) return "skip";
  if (kKeep.count(stage)) return "keep";
  return "compress";
}

namespace {

// The stages analyze runs, as a plan of their own (recipe.stages filtered alike, so that the data
// and model checks name the right entries); the names of the skipped ones.
Plan stages_to_run(Plan& plan, std::vector<std::string>& skipped, bool& compresses) {
  Plan out;
  out.recipe = plan.recipe;
  out.recipe.stages.clear();
  compresses = false;
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const std::string& name = plan.recipe.stages[i].name;
    if (analyze_role(name) == "skip") {
      skipped.push_back(name);
      continue;
    }
    compresses = compresses || analyze_role(name) == "compress";
    out.recipe.stages.push_back(plan.recipe.stages[i]);
    out.stages.push_back(std::move(plan.stages[i]));
  }
  return out;
}

// --set, and MODEL in place of the recipe's model file (model.checkpoint or model.torchscript,
// whichever it names), so that the recipe validates without the file it names.
std::vector<std::string> with_model(const AnalyzeOptions& opts) {
  std::vector<std::string> sets = opts.sets;
  if (opts.model_path.rfind("zoo:", 0) == 0) return sets;
  recipe::Diagnostics ignored;  // make_plan reports them
  const recipe::Recipe r = recipe::load_recipe(opts.recipe_path, opts.sets, ignored);
  const recipe::ConfigNode* model = r.tree.find("model");
  for (const char* key : {"checkpoint", "torchscript"})
    if (model && model->find(key)) sets.push_back(std::string("model.") + key + "=" + fs::absolute(opts.model_path).string());
  return sets;
}

// MODEL in place of the recipe's model: the recipe's input shapes, MODEL's weights.
ir::Model load_analyzed_model(const std::string& path, recipe::Recipe r, const DataContext& data) {
  r.model.zoo.clear(), r.model.torchscript.clear(), r.model.checkpoint.clear();
  if (path.rfind("zoo:", 0) == 0) r.model.zoo = path.substr(4);
  else if (fs::path(path).extension() == ".pt") r.model.torchscript = path;
  else r.model.checkpoint = path;
  try {
    return load_recipe_model(r, data);
  } catch (const InputError& e) {
    throw InputError("analyze: MODEL '" + path + "' does not load: " + e.what());
  } catch (const std::exception& e) {
    throw InputError("analyze: MODEL '" + path + "' does not load: " + first_line(e.what()) +
                     "; give a TorchScript .pt, a .mcm / .mcz checkpoint or zoo:NAME");
  }
}

// The first `limit` samples (0: all) of a split, unshuffled, as batches.
std::vector<data::Batch> first_samples(const DataContext& data, const std::string& split, int64_t limit) {
  auto loader = data.loader(split, /*training=*/false);
  std::vector<data::Batch> out;
  int64_t n = 0;
  data::Batch b;
  while ((limit == 0 || n < limit) && loader->next(b)) {
    const int64_t size = b.inputs().at(0).size(0);
    if (limit > 0 && n + size > limit) b = b.first(limit - n);
    n += b.inputs().at(0).size(0);
    out.push_back(b);
  }
  return out;
}

std::vector<std::string> selected_layers(const ir::Model& f, const std::vector<std::string>& globs) {
  std::vector<ScopeGlob> include;
  for (const std::string& g : globs) include.push_back({g, {}});
  return scopes_of(select_layers(find_weight_layers(f), include, {}, "analyze", "weight layer", "--layers"));
}

}  // namespace

AnalysisData analysis_data(const DataContext& data, int64_t sqnr_samples, int64_t val_samples) {
  AnalysisData ad;
  ad.sqnr = first_samples(data, data.has("calib") ? "calib" : "val", sqnr_samples);
  ad.val = first_samples(data, "val", val_samples);
  return ad;
}

namespace {

report::StageRecord record(int index, const std::string& stage, ir::Model& m, double top1,
                           const std::map<std::string, int>& storage_bits) {
  report::MeasureOptions mo;
  mo.latency = false;
  mo.storage_bits = storage_bits;
  report::StageRecord rec;
  rec.index = index;
  rec.stage = stage;
  rec.status = "done";
  rec.metrics = report::measure(m, mo);
  rec.metrics.top1 = top1;
  return rec;
}

}  // namespace

AnalyzeResult run_analyze(const AnalyzeOptions& opts, const StageRegistry& registry) {
  const bool zoo = opts.model_path.rfind("zoo:", 0) == 0;
  if (!zoo && !fs::exists(opts.model_path))
    throw InputError("analyze: MODEL '" + opts.model_path +
                     "' does not exist; give a TorchScript .pt, a .mcm / .mcz checkpoint or zoo:NAME");
  recipe::Diagnostics diag;
  Plan all = make_plan(opts.recipe_path, with_model(opts), registry, diag);
  AnalyzeResult result;
  bool compresses = false;
  Plan plan = stages_to_run(all, result.stages_skipped, compresses);
  recipe::Recipe& r = plan.recipe;
  if (opts.threads >= 0) r.threads = opts.threads;
  if (!compresses && diag.ok()) {
    const recipe::Location loc = r.tree.find("stages") ? r.tree.key_loc("stages") : recipe::Location{r.source_path, 1, 1};
    std::string names;
    for (const auto& e : all.recipe.stages) names += (names.empty() ? "" : ", ") + e.name;
    diag.error(loc, "analyze: the recipe has no compressing stage (its stages: " + (names.empty() ? "none" : names) +
                        "); analyze compares a model with its compressed version: add a prune, quantize, cluster, "
                        "share, decompose, prune_channels or prune_blocks stage");
  }
  DataContext data(r);
  data.open(diag);
  check_stage_data(plan, data, diag);
  if (diag.ok() && !data.has("val"))
    diag.error(r.model.loc, "analyze needs data.val (the top-1 with each layer reverted is measured on it): add it to "
                            "the recipe, e.g. include: [fashion_mnist]");
  diag.throw_if_any("invalid recipe '" + opts.recipe_path + "'");
  if (r.threads > 0) train::set_compute_threads(static_cast<int>(r.threads));

  ir::Model float_model = load_analyzed_model(opts.model_path, r, data);
  check_data_on_model(data, float_model, diag);
  check_stages_on_model(plan, float_model, diag);
  diag.throw_if_any("invalid recipe '" + opts.recipe_path + "' for MODEL '" + opts.model_path + "'");
  const std::vector<std::string> layers = selected_layers(float_model, opts.layers);

  const std::string out = opts.out_dir.empty() ? "runs/" + r.name + "_analyze" : opts.out_dir;
  fs::create_directories(out);
  ir::passes::fold_batch_norm(float_model);
  float_model.infer_shapes();
  ir::Model compressed = float_model.clone();
  std::vector<std::shared_ptr<train::Modifier>> modifiers;  // pending for a training stage: dropped
  std::map<std::string, int> storage_bits;
  nlohmann::json stage_details = nlohmann::json::array();
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const std::string& name = r.stages[i].name;
    spdlog::info("analyze: stage {}/{}: {}", i + 1, plan.stages.size(), name);
    nlohmann::json details = nlohmann::json::object();
    RunContext ctx{r, compressed, float_model, data, out, static_cast<int>(i + 1), modifiers, details, storage_bits, opts.quiet, ""};
    at_stage_boundary("stage '" + name + "' (" + r.stages[i].loc.str() + ")", [&] {
      plan.stages[i]->run(ctx);
      compressed.infer_shapes();
      compressed.verify();
    });
    result.stages_run.push_back(name);
    stage_details.push_back({{"stage", name}, {"details", details}});
  }
  for (auto it = storage_bits.begin(); it != storage_bits.end();)
    it = compressed.tensors.count(it->first) ? std::next(it) : storage_bits.erase(it);

  const AnalysisData ad = analysis_data(data, opts.sqnr_samples, opts.val_samples);
  const auto t0 = std::chrono::steady_clock::now();
  at_stage_boundary("analyze", [&] { result.analysis = analyze_layers(float_model, compressed, layers, ad); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  report::Report rep;
  rep.recipe_name = r.name + " (analyze)";
  rep.recipe_hash = r.hash;
  rep.model_source = opts.model_path;
  rep.tool_version = MC_TOOL_VERSION;
  rep.created_at = report::utc_timestamp();
  rep.stages.push_back(record(0, "load", float_model, result.analysis.top1_float, {}));
  rep.stages.back().details = {{"source", opts.model_path}, {"batch_norm_folded", true}};
  rep.stages.push_back(record(1, "analyze", compressed, result.analysis.top1_compressed, storage_bits));
  rep.stages.back().seconds = seconds;
  nlohmann::json& d = rep.stages.back().details;
  d["analysis"] = result.analysis.to_json();
  d["stages_run"] = result.stages_run;
  d["stages_skipped"] = result.stages_skipped;
  d["stage_details"] = stage_details;
  rep.write(out, r.report.formats);
  result.report_path = (fs::path(out) / (r.report.formats.empty() ? "report.json"
                                                                  : report::Report::file_name(r.report.formats.back())))
                           .string();
  return result;
}

}  // namespace mc::pipeline
