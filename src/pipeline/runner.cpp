#include "pipeline/runner.h"

#include <ATen/Parallel.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "frontend/frontend.h"
#include "pipeline/data_context.h"
#include "pipeline/preprocessing.h"
#include "pipeline/run_dir.h"
#include "report/metrics.h"
#include "report/report.h"
#include "runtime/executor.h"
#include "train/evaluator.h"
#include "train/modifier.h"

namespace mc::pipeline {
namespace fs = std::filesystem;

Plan make_plan(const std::string& recipe_path, const std::vector<std::string>& sets, const StageRegistry& registry,
               recipe::Diagnostics& diag) {
  Plan plan;
  plan.recipe = recipe::load_recipe(recipe_path, sets, diag);
  for (size_t i = 0; i < plan.recipe.stages.size(); ++i) {
    const auto& e = plan.recipe.stages[i];
    const StageInfo* info = registry.find(e.name);
    if (!info) {
      std::string hint = recipe::did_you_mean(e.name, registry.names());
      diag.error(e.loc, "unknown stage '" + e.name + "'" +
                            (hint.empty() ? " (`compress stages` lists them)" : " (did you mean '" + hint + "'?)"));
      plan.stages.push_back(nullptr);  // keeps indexes aligned with recipe.stages; never run
      continue;
    }
    plan.stages.push_back(info->make(e.options, diag, "stages." + std::to_string(i) + "." + e.name, plan.recipe.base_dir));
  }
  for (size_t i = 0; i < plan.stages.size(); ++i)
    if (plan.stages[i]) plan.stages[i]->check_plan(plan.recipe, i, diag);
  return plan;
}

void check_stage_data(const Plan& plan, const DataContext& data, recipe::Diagnostics& diag) {
  const auto& r = plan.recipe;
  const recipe::ConfigNode* data_node = r.tree.find("data");
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    if (!plan.stages[i]) continue;
    const std::string stage = "stage '" + r.stages[i].name + "'";
    for (auto& split : plan.stages[i]->needs_data())
      if (!data.has(split)) diag.error(r.stages[i].loc, stage + " needs 'data." + split + "' in the recipe");
    for (auto& use : plan.stages[i]->needs_labels()) {
      if (!data.has(use.split) || data.has_labels(use.split)) continue;
      const recipe::ConfigNode* split_node = data_node ? data_node->find(use.split) : nullptr;
      diag.error(r.stages[i].loc, stage + " needs labels on 'data." + use.split + "' (" + use.why + "), but data." +
                                      use.split + (split_node ? " (" + split_node->loc().str() + ")" : "") +
                                      " is unlabelled: give it labels (npy: labels: y.npy; imagefolder: one "
                                      "subfolder per class) or draw it from a labelled split (calib: {from: train})");
    }
  }
}

recipe::ConfigNode effective_recipe(const Plan& plan) {
  recipe::ConfigNode tree = plan.recipe.tree;
  recipe::ConfigNode stages = recipe::ConfigNode::seq({});
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    if (!plan.stages[i]) continue;
    recipe::ConfigNode entry = recipe::ConfigNode::map({});
    entry.set(plan.recipe.stages[i].name, plan.stages[i]->effective_options(), {});
    stages.push(entry);
  }
  tree.set("stages", stages, {});
  return tree;
}

namespace {

ir::Model load_recipe_model(const recipe::Recipe& r, const DataContext& data) {
  const auto& m = r.model;
  ir::Shape shape(m.input_shape.begin(), m.input_shape.end());
  if (shape.empty()) {
    auto s = data.sample_shape();
    if (s.empty())
      throw InputError(r.model.loc.str() + ": the model's input shape is unknown: set model.input.shape or give data");
    shape = {1};
    shape.insert(shape.end(), s.begin(), s.end());
  }
  if (!m.zoo.empty()) {
    frontend::ZooOptions o;
    o.num_classes = m.num_classes;
    if (r.tree.find("model") && !r.tree.find("model")->find("num_classes") && data.num_classes() > 0)
      o.num_classes = data.num_classes();
    o.input_shape = shape;
    o.seed = static_cast<uint64_t>(r.seed);
    return frontend::build_zoo(m.zoo, o);
  }
  if (!m.torchscript.empty()) {
    frontend::ImportOptions o;
    o.input_shape = shape;
    return frontend::import_torchscript(m.torchscript, o);
  }
  return ir::Model::load(m.checkpoint);
}

report::Metrics measure(ir::Model& model, const recipe::Recipe& r, DataContext& data,
                        const std::map<std::string, int>& storage_bits) {
  report::MeasureOptions mo;
  mo.latency = r.report.latency;
  mo.latency_batches = r.report.latency_batches;
  mo.repeats = static_cast<int>(r.report.latency_repeats);
  mo.per_layer = r.report.per_layer;
  mo.storage_bits = storage_bits;
  report::Metrics m = report::measure(model, mo);
  if (data.has("val")) {
    auto loader = data.loader("val", false);
    train::EvalResult e = train::evaluate(model, *loader);
    m.top1 = e.top1;
    m.top5 = e.top5;
    m.loss = e.loss;
  }
  return m;
}

void log_metrics(const std::string& what, const report::Metrics& m) {
  std::string acc = m.top1 ? fmt::format("top-1 {:.2f}%  top-5 {:.2f}%  ", *m.top1 * 100, *m.top5 * 100) : "";
  spdlog::info("{}: {}params {} (non-zero {})  MACs {}  size {}", what, acc, report::human_count(m.params),
               report::human_count(m.nonzero_params), report::human_count(m.macs), report::human_bytes(m.bytes_stored));
}

// Runs `f` (a stage, or measuring after one); any failure leaves as one line starting with `where`:
// LibTorch errors as RuntimeFailure with the first line of their cause (no backtrace), mc::Errors
// keep their kind (InputError: exit 2).
template <typename F>
void at_stage_boundary(const std::string& where, F f) {
  try {
    f();
  } catch (const InputError& e) {
    throw InputError(where + ": " + e.what());
  } catch (const Error& e) {
    throw RuntimeFailure(where + ": " + e.what());
  } catch (const std::exception& e) {  // c10::Error (backtrace after the first line), std::runtime_error
    throw RuntimeFailure(where + ": " + first_line(e.what()));
  }
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

int run_recipe(const RunOptions& opts, const StageRegistry& registry) {
  recipe::Diagnostics diag;
  Plan plan = make_plan(opts.recipe_path, opts.sets, registry, diag);
  recipe::Recipe& r = plan.recipe;
  if (!opts.device.empty()) r.device = opts.device;
  if (opts.threads >= 0) r.threads = opts.threads;

  DataContext data(r);
  data.open(diag);
  check_stage_data(plan, data, diag);
  diag.throw_if_any("invalid recipe '" + opts.recipe_path + "'");

  c10::Device device = runtime::parse_device(r.device);
  if (r.threads > 0) at::set_num_threads(static_cast<int>(r.threads));

  if (opts.dry_run) {
    std::cout << "# recipe '" << r.name << "' is valid; " << plan.stages.size() << " stage(s) would run:\n"
              << effective_recipe(plan).to_yaml();
    return 0;
  }

  RunDir dir(opts.out_dir.empty() ? "runs/" + r.name : opts.out_dir);
  dir.create();
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(dir.file("log.txt"), /*truncate=*/!opts.resume);
  sink->set_pattern("[%Y-%m-%d %H:%M:%S] %l: %v");
  spdlog::default_logger()->sinks().push_back(sink);
  spdlog::flush_on(spdlog::level::info);  // the log is read while a run is going
  struct SinkGuard {
    std::shared_ptr<spdlog::sinks::sink> s;
    ~SinkGuard() {
      auto& v = spdlog::default_logger()->sinks();
      v.erase(std::remove(v.begin(), v.end(), s), v.end());
    }
  } guard{sink};

  std::string effective = effective_recipe(plan).to_yaml();
  write_file_atomically(dir.file("recipe.yaml"), [&](std::ostream& o) { o << effective; });

  int start = 0;
  report::Report rep;
  ir::Model original = load_recipe_model(r, data);
  runtime::move_model(original, device);
  ir::Model model;
  if (opts.resume) {
    RunDir::State st = dir.read_state();
    if (st.recipe_hash != r.hash)
      throw InputError("--resume: the recipe changed since the run in '" + dir.path() + "' (hash " + st.recipe_hash +
                       " vs " + r.hash + "); start a new run without --resume or use another --out");
    start = st.finished;
    if (st.modifiers_pending && start > 0) --start;  // re-run the stage that installed them
    model = start == 0 ? original.clone() : ir::Model::load(dir.checkpoint(start, r.stages[static_cast<size_t>(start) - 1].name));
    runtime::move_model(model, device);
    try {
      rep = report::Report::from_json(nlohmann::json::parse(read_file(dir.file("report.json"))));
    } catch (const std::exception&) {
      rep = report::Report{};
    }
    while (static_cast<int>(rep.stages.size()) > start + 1) rep.stages.pop_back();
    spdlog::info("resuming '{}' after stage {} of {}", r.name, start, plan.stages.size());
  } else {
    model = original.clone();
  }
  rep.recipe_name = r.name;
  rep.recipe_hash = r.hash;
  rep.model_source = !r.model.zoo.empty() ? "zoo:" + r.model.zoo : !r.model.torchscript.empty() ? r.model.torchscript : r.model.checkpoint;
  rep.tool_version = MC_TOOL_VERSION;
  if (rep.created_at.empty()) rep.created_at = now_iso();

  std::map<std::string, int> storage_bits;
  std::vector<std::shared_ptr<train::Modifier>> modifiers;

  if (rep.stages.empty()) {
    report::StageRecord rec;
    rec.index = 0;
    rec.stage = "load";
    rec.status = "done";
    at_stage_boundary("measuring the loaded model", [&] { rec.metrics = measure(model, r, data, storage_bits); });
    rec.details = {{"source", rep.model_source}, {"input_shape", model.input_shape()}};
    log_metrics("loaded " + rep.model_source, rec.metrics);
    rep.stages.push_back(rec);
    rep.write(dir.path(), r.report.formats);
  }

  for (size_t i = static_cast<size_t>(start); i < plan.stages.size(); ++i) {
    const auto& entry = r.stages[i];
    spdlog::info("stage {}/{}: {}", i + 1, plan.stages.size(), entry.name);
    nlohmann::json details = nlohmann::json::object();
    RunContext ctx{r, model, original, data, dir.path(), static_cast<int>(i + 1), modifiers, details, storage_bits, opts.quiet};
    const std::string where = "stage " + std::to_string(i + 1) + "/" + std::to_string(plan.stages.size()) + " '" + entry.name + "'";
    auto t0 = std::chrono::steady_clock::now();
    at_stage_boundary(where, [&] {
      plan.stages[i]->run(ctx);
      model.infer_shapes();
      model.verify();
    });
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string ck = dir.checkpoint(static_cast<int>(i + 1), entry.name);
    save_with_preprocessing(model, data, ck);

    report::StageRecord rec;
    rec.index = static_cast<int>(i + 1);
    rec.stage = entry.name;
    rec.status = "done";
    rec.seconds = seconds;
    rec.details = details;
    at_stage_boundary("measuring the model after " + where, [&] { rec.metrics = measure(model, r, data, storage_bits); });
    log_metrics("after " + entry.name, rec.metrics);
    rep.stages.push_back(rec);
    rep.write(dir.path(), r.report.formats);
    dir.write_state({r.hash, static_cast<int>(i + 1), ck, !modifiers.empty()});
  }
  std::string where = dir.file(r.report.formats.empty() ? "report.json" : "report." + r.report.formats.back());
  if (!opts.quiet) std::cout << "report: " << where << "\n";
  spdlog::info("done: report in {}", where);
  return 0;
}

}  // namespace mc::pipeline
