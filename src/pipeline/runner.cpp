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
#include "distributed/world.h"
#include "frontend/frontend.h"
#include "pipeline/data_context.h"
#include "pipeline/preprocessing.h"
#include "pipeline/run_dir.h"
#include "report/metrics.h"
#include "report/report.h"
#include "runtime/executor.h"
#include "train/evaluator.h"
#include "train/modifier.h"
#include "train/threads.h"

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

ir::Model load_recipe_model(const recipe::Recipe& r, const DataContext& data) {
  const auto& m = r.model;
  ir::Shape shape(m.input_shape.begin(), m.input_shape.end());
  if (shape.empty() && m.inputs.empty()) {
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
    if (m.inputs.empty()) o.inputs.emplace_back(frontend::parse_input_dtype(m.input_dtype, "model.input.dtype"), shape);
    for (const auto& in : m.inputs)
      o.inputs.emplace_back(frontend::parse_input_dtype(in.dtype, "model.inputs dtype"), ir::Shape(in.shape.begin(), in.shape.end()));
    return frontend::import_torchscript(m.torchscript, o);
  }
  return ir::Model::load(m.checkpoint);
}

void check_stages_on_model(const Plan& plan, const ir::Model& model, recipe::Diagnostics& diag) {
  for (const auto& stage : plan.stages) {
    if (!stage) break;  // an unknown stage name, already an error
    try {
      stage->check_model(model, diag);
    } catch (const InputError& e) {
      diag.error({}, e.what());
    }
    if (!stage->keeps_layers()) break;  // later stages see another model
  }
}

namespace {

report::Metrics measure(ir::Model& model, const recipe::Recipe& r, DataContext& data,
                        const std::map<std::string, int>& storage_bits) {
  report::MeasureOptions mo;
  // Latency is timed by rank 0 alone (the other ranks' work would distort it); accuracy is sharded.
  mo.latency = r.report.latency && dist::world().is_main();
  mo.latency_batches = r.report.latency_batches;
  mo.repeats = static_cast<int>(r.report.latency_repeats);
  mo.per_layer = r.report.per_layer;
  mo.storage_bits = storage_bits;
  report::Metrics m = report::measure(model, mo);
  if (data.has("val")) {
    auto loader = data.loader("val", false, /*shard=*/true);
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

// What a run carries from stage to stage besides the recipe: the model, the report so far, the
// storage bit widths and the modifiers pending for a later training stage.
struct Progress {
  int start = 0;  // stages finished
  report::Report rep;
  ir::Model original;  // as loaded (ckpt/00_load.mcm on --resume)
  ir::Model model;
  std::map<std::string, int> storage_bits;
  std::vector<std::shared_ptr<train::Modifier>> modifiers;
};

// report.json of the run, cut to the load record and `finished` stages. InputError when it is
// missing, corrupt or has fewer records than state.json says.
report::Report read_report(const RunDir& dir, int finished) {
  const std::string f = dir.file("report.json");
  report::Report rep;
  try {
    rep = report::Report::from_json(nlohmann::json::parse(read_file(f)));
  } catch (const nlohmann::json::exception& e) {
    throw InputError("--resume: '" + f + "' is corrupt (" + e.what() + ")" + dir.restart_hint());
  } catch (const InputError& e) {
    throw InputError("--resume: '" + f + "' is unusable: " + e.what() + dir.restart_hint());
  }
  const size_t want = static_cast<size_t>(finished) + 1;
  if (rep.stages.size() < want)
    throw InputError("--resume: '" + f + "' has " + std::to_string(rep.stages.size()) + " stage record(s) but state.json says " +
                     std::to_string(finished) + " stage(s) finished (load + " + std::to_string(finished) + " expected)" +
                     dir.restart_hint());
  while (rep.stages.size() > want) rep.stages.pop_back();  // a stage reported but not recorded in state.json
  return rep;
}

Progress resume_progress(const RunDir& dir, const Plan& plan, const StageRegistry& registry) {
  const recipe::Recipe& r = plan.recipe;
  RunDir::State st = dir.read_state();
  if (st.recipe_hash != r.hash)
    throw InputError("--resume: the recipe changed since the run in '" + dir.path() + "' (hash " + st.recipe_hash + " vs " +
                     r.hash + "); start a new run without --resume or use another --out");
  if (st.finished > static_cast<int>(plan.stages.size()))
    throw InputError("--resume: '" + dir.file("state.json") + "' says " + std::to_string(st.finished) +
                     " stages finished but the recipe has " + std::to_string(plan.stages.size()) + dir.restart_hint());
  Progress p;
  p.start = st.finished;
  try {
    p.original = ir::Model::load(dir.checkpoint(0, "load"));
    p.model = ir::Model::load(dir.checkpoint(p.start, p.start == 0 ? "load" : r.stages[static_cast<size_t>(p.start) - 1].name));
    for (const auto& m : st.modifiers) p.modifiers.push_back(registry.modifier_restorers().restore(m, dir.file("state.json")));
  } catch (const InputError& e) {
    throw InputError(std::string("--resume: ") + e.what() + dir.restart_hint());
  }
  p.storage_bits = st.storage_bits;
  p.rep = read_report(dir, p.start);
  return p;
}

// The report's first record (the model as loaded) and the state after it.
void record_load(const recipe::Recipe& r, DataContext& data, const RunDir& dir, Progress& run) {
  report::StageRecord rec;
  rec.index = 0;
  rec.stage = "load";
  rec.status = "done";
  at_stage_boundary("measuring the loaded model", [&] { rec.metrics = measure(run.model, r, data, run.storage_bits); });
  rec.details = {{"source", run.rep.model_source}, {"input_shape", run.model.input_shape()}};
  log_metrics("loaded " + run.rep.model_source, rec.metrics);
  run.rep.stages.push_back(rec);
  if (!dist::world().is_main()) return;  // rank 0 alone writes the run directory
  run.rep.write(dir.path(), r.report.formats);
  dir.write_state({r.hash, 0, dir.checkpoint(0, "load"), {}, {}});
}

// Runs stage i, checkpoints, measures and reports it, then writes the state --resume reads.
void run_stage(size_t i, const Plan& plan, DataContext& data, const RunDir& dir, Progress& run, const RunOptions& opts) {
  const bool main_rank = dist::world().is_main();
  const recipe::Recipe& r = plan.recipe;
  const auto& entry = r.stages[i];
  spdlog::info("stage {}/{}: {}", i + 1, plan.stages.size(), entry.name);
  nlohmann::json details = nlohmann::json::object();
  RunContext ctx{r,       run.model, run.original, data, dir.path(), static_cast<int>(i + 1), run.modifiers,
                 details, run.storage_bits, opts.quiet, opts.trace_steps};
  const std::string where = "stage " + std::to_string(i + 1) + "/" + std::to_string(plan.stages.size()) + " '" + entry.name + "'";
  auto t0 = std::chrono::steady_clock::now();
  at_stage_boundary(where, [&] {
    plan.stages[i]->run(ctx);
    run.model.infer_shapes();
    run.model.verify();
  });
  // A stage that removes layers (depth pruning, dead-code elimination) takes their stored widths with them.
  for (auto it = run.storage_bits.begin(); it != run.storage_bits.end();)
    it = run.model.tensors.count(it->first) ? std::next(it) : run.storage_bits.erase(it);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string ck = dir.checkpoint(static_cast<int>(i + 1), entry.name);
  if (main_rank) save_with_preprocessing(run.model, data, ck);

  report::StageRecord rec;
  rec.index = static_cast<int>(i + 1);
  rec.stage = entry.name;
  rec.status = "done";
  rec.seconds = seconds;
  rec.details = details;
  at_stage_boundary("measuring the model after " + where, [&] { rec.metrics = measure(run.model, r, data, run.storage_bits); });
  log_metrics("after " + entry.name, rec.metrics);
  run.rep.stages.push_back(rec);
  if (!main_rank) return;
  run.rep.write(dir.path(), r.report.formats);
  dir.write_state({r.hash, static_cast<int>(i + 1), ck, run.storage_bits, pending_states(run.modifiers)});
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// A data-parallel run (torchrun's environment): the process group, and every rank running the same
// recipe (its effective text's hash). One process: the one-process world.
dist::World& connect_world(const dist::WorldConfig& config, const recipe::Recipe& r) {
  if (!config.distributed()) return dist::world();
  dist::WorldConfig c = config;
  if (!c.timeout_from_env) c.timeout = std::chrono::seconds(r.distributed.timeout_s);
  dist::World& w = dist::init_world(c);
  w.check_same("the effective recipe (hash of recipe + includes + --set)", r.hash,
               "start every rank with the same recipe file, includes and --set values");
  spdlog::info("data-parallel run: rank {} of {} (local rank {}), rendezvous {}:{}, timeout {} s", w.rank(), w.world_size(),
               w.local_rank(), c.master_addr, c.master_port, c.timeout.count() / 1000);
  return w;
}

// Data-parallel runs exchange tensors through Gloo, which works on CPU tensors only; GPUs would need
// c10d's ProcessGroupNCCL, which Debian's LibTorch (CPU-only: no libtorch_cuda, no NCCL symbols)
// does not have. An error at the recipe's `device` (or the --device flag), before any rendezvous.
void check_distributed_device(const dist::WorldConfig& world, const recipe::Recipe& r, const RunOptions& opts,
                              recipe::Diagnostics& diag) {
  if (!world.distributed() || r.device == "cpu") return;
  const std::string what = " in a data-parallel run (WORLD_SIZE=" + std::to_string(world.world_size) +
                           "): this build has no NCCL (its LibTorch is CPU-only), so data-parallel ranks train "
                           "on the CPU through Gloo; set device: cpu";
  if (!opts.device.empty()) diag.error(recipe::Location{}, "--device " + r.device + what);
  else diag.error(r.tree.key_loc("device"), "device: " + r.device + what);
}

}  // namespace

int run_recipe(const RunOptions& opts, const StageRegistry& registry) {
  const dist::WorldConfig world_config = dist::WorldConfig::from_env();  // bad variables: InputError before anything
  recipe::Diagnostics diag;
  Plan plan = make_plan(opts.recipe_path, opts.sets, registry, diag);
  if (plan.recipe.stages.empty() && !plan.recipe.auto_section.is_null())
    diag.error(plan.recipe.auto_section.loc(), "this recipe is a search (an 'auto:' section and no stages): run it with "
                                               "`compress auto " + opts.recipe_path + "`");
  recipe::Recipe& r = plan.recipe;
  if (!opts.device.empty()) r.device = opts.device;
  if (opts.threads >= 0) r.threads = opts.threads;
  check_distributed_device(world_config, r, opts, diag);

  DataContext data(r);
  data.open(diag);
  check_stage_data(plan, data, diag);
  diag.throw_if_any("invalid recipe '" + opts.recipe_path + "'");

  c10::Device device = runtime::parse_device(r.device);
  if (r.threads > 0) train::set_compute_threads(static_cast<int>(r.threads));  // ATen and OpenBLAS

  if (opts.dry_run) {
    std::cout << "# recipe '" << r.name << "' is valid; " << plan.stages.size() << " stage(s) would run:\n"
              << effective_recipe(plan).to_yaml();
    return 0;
  }

  dist::World& world = connect_world(world_config, r);
  const bool main_rank = world.is_main();
  RunDir dir(opts.out_dir.empty() ? "runs/" + r.name : opts.out_dir);
  Progress run = opts.resume ? resume_progress(dir, plan, registry) : Progress{};  // refuses before writing anything
  if (!opts.resume) {  // the model-dependent checks, before anything is written
    run.original = load_recipe_model(r, data);
    check_data_on_model(data, run.original, diag);
    check_stages_on_model(plan, run.original, diag);
    diag.throw_if_any("invalid recipe '" + opts.recipe_path + "'");
  }
  if (main_rank) dir.create();
  world.barrier();  // the directory exists for the other ranks' logs
  const std::string log_name = main_rank ? "log.txt" : "log.rank" + std::to_string(world.rank()) + ".txt";
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(dir.file(log_name), /*truncate=*/!opts.resume);
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
  if (main_rank) write_file_atomically(dir.file("recipe.yaml"), [&](std::ostream& o) { o << effective; });

  ir::Model& original = run.original;
  if (opts.resume) {
    spdlog::info("resuming '{}' after stage {} of {}", r.name, run.start, plan.stages.size());
  } else {
    if (main_rank) save_with_preprocessing(original, data, dir.checkpoint(0, "load"));  // the teacher `original` of a resumed run
    run.model = original.clone();
  }
  runtime::move_model(original, device);
  runtime::move_model(run.model, device);
  report::Report& rep = run.rep;
  rep.recipe_name = r.name;
  rep.recipe_hash = r.hash;
  rep.model_source = !r.model.zoo.empty() ? "zoo:" + r.model.zoo : !r.model.torchscript.empty() ? r.model.torchscript : r.model.checkpoint;
  rep.tool_version = MC_TOOL_VERSION;
  if (rep.created_at.empty()) rep.created_at = now_iso();
  rep.world_size = world.world_size();

  if (rep.stages.empty()) record_load(r, data, dir, run);
  for (size_t i = static_cast<size_t>(run.start); i < plan.stages.size(); ++i) run_stage(i, plan, data, dir, run, opts);
  std::string where = dir.file(r.report.formats.empty() ? "report.json" : report::Report::file_name(r.report.formats.back()));
  if (!opts.quiet && main_rank) std::cout << "report: " << where << "\n";
  spdlog::info("done: report in {}", where);
  return 0;
}

}  // namespace mc::pipeline
