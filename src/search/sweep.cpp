#include "search/sweep.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "common/atomic_file.h"
#include "common/error.h"
#include "search/knobs.h"
#include "search/moves.h"
#include "search/trial.h"

namespace mc::search {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

// The sweep's recovery: the trials' distilled fine-tune, cut to `steps` training steps (the
// teacher's logits computed as it goes: caching them per image pays only over whole epochs).
recipe::ConfigNode sweep_recovery(const AutoOptions& o, int64_t steps) {
  recipe::ConfigNode ft = recipe::ConfigNode::merge(
      finetune_options(o),
      recipe::parse_yaml("{epochs: 1, validate_each_epoch: false, distill: {cache_teacher: false}}", "<auto sweep>"));
  ft.set("max_steps_per_epoch", recipe::ConfigNode::scalar(std::to_string(steps), {}), {});
  return ft;
}

// The steps the longer recovery adds to the short one (0: none).
int64_t extension_steps(const AutoOptions& o) {
  return o.sweep_finetune_steps > 0 ? std::max<int64_t>(0, o.sweep_long_finetune_steps - o.sweep_finetune_steps) : 0;
}

// The ort_latency probe: the registry's export stage on a copy of the model (the export's clean-up
// passes, the file written to `dir`), timed in ONNX Runtime at the objective's batch with the
// trials' runs and threads, the fastest or the median run as auto.latency_statistic says. 0 for
// the kernel-speed knobs' candidates (quantization): the search tries those as whole-model trials.
std::function<double(const ir::Model&, const pipeline::SweepCandidate*)> latency_probe(
    const recipe::Recipe& recipe, pipeline::DataContext& data, const pipeline::StageRegistry& registry,
    const AutoOptions& o, const std::string& dir) {
  const recipe::ConfigNode opts = recipe::parse_yaml(
      fmt::format("{{onnx: latency_probe.onnx, ort_eval: false, ort_latency_batches: [{}], ort_latency_runs: {}}}",
                  o.batch, o.latency_runs),
      "<auto sweep>");
  if (!registry.find("export"))
    throw InputError("auto.sweep_latency: this build has no export stage (set auto.sweep_latency: false)");
  return [&recipe, &data, &registry, &o, opts, dir](const ir::Model& model, const pipeline::SweepCandidate* c) {
    if (c) {
      const Knob* k = find_knob(c->knob);
      if (k && k->kernel_speed) return 0.0;
    }
    ir::Model copy = model.clone();
    pipeline::ScratchRun run(recipe, copy, model, data, dir, true);
    registry.make("export", opts, recipe.base_dir)->run(run.ctx);
    const nlohmann::json& t = run.details.at("ort_latency").at(0);
    return t.at(o.latency_statistic == "min" ? "min_ms" : "median_ms").get<double>();
  };
}

}  // namespace

nlohmann::json sweep_settings(const AutoOptions& o) {
  nlohmann::json latency = nullptr;
  if (sweep_times_latency(o))
    latency = {{"batch", o.batch}, {"runs", o.latency_runs}, {"statistic", o.latency_statistic}};
  return {{"bn_batches", o.sweep_bn_batches},
          {"finetune_steps", o.sweep_finetune_steps},
          {"finetune", o.sweep_finetune_steps > 0 ? sweep_recovery(o, o.sweep_finetune_steps).to_yaml() : std::string()},
          {"long_finetune_steps", extension_steps(o) > 0 ? o.sweep_long_finetune_steps : 0},
          {"latency", latency}};
}

bool sweep_times_latency(const AutoOptions& o) { return o.objective == "ort_latency" && o.sweep_latency; }

namespace {

// sweep.json of an earlier call when it holds `candidates` measured with these settings.
std::optional<SweepResult> read_sweep(const fs::path& file, const std::vector<pipeline::SweepCandidate>& candidates,
                                      const AutoOptions& o) {
  if (!fs::exists(file)) return std::nullopt;
  SweepResult r;
  try {
    if (!sweep_from_json(nlohmann::json::parse(read_file(file.string())), candidates, sweep_settings(o), r.baseline,
                         r.rows))
      return std::nullopt;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  for (const auto& row : r.rows) r.seconds += row.seconds;
  return r;
}

// The layer sweep's options for the search: the recovery fine-tune, its extension for the moves
// that save much but still lose too much (judged against `baseline`, measured before the
// candidates), the latency probe, the work directory.
pipeline::SweepOptions sweep_options(const recipe::Recipe& recipe, pipeline::DataContext& data,
                                     const pipeline::StageRegistry& registry, const AutoOptions& o,
                                     const std::string& out_dir, const pipeline::SweepBaseline& baseline) {
  pipeline::SweepOptions so;
  so.max_batches = o.sweep_batches;
  so.bn_batches = o.sweep_bn_batches;
  if (o.sweep_finetune_steps > 0) {
    so.recovery_stage = "finetune";
    so.recovery_options = sweep_recovery(o, o.sweep_finetune_steps);
  }
  if (extension_steps(o) > 0) {
    // Moves saving at least a tenth of the whole that still lose more than the tolerance after the
    // short recovery: by the short one, a removed block (tens of points back after 100 steps, most
    // of the rest over the next hundreds) would rank below every small move and never be tried.
    so.extended_recovery_options = sweep_recovery(o, extension_steps(o));
    so.extend_recovery = [&o, &baseline](const pipeline::SweepRow& r) {
      const double tolerance = baseline.top1 - o.min_top1(baseline.top1);
      return baseline.top1 - r.top1 > tolerance && move_gain(r, baseline, o) >= 0.1 * baseline_measure(baseline, o);
    };
  }
  so.work_dir = (fs::path(out_dir) / "sweep").string();
  fs::create_directories(so.work_dir);
  if (sweep_times_latency(o)) so.cost = latency_probe(recipe, data, registry, o, so.work_dir);
  so.quiet = true;
  return so;
}

}  // namespace

SweepResult run_sweep(const recipe::Recipe& recipe, pipeline::DataContext& data, const ir::Model& model,
                      const pipeline::StageRegistry& registry, const AutoOptions& o, const std::string& out_dir) {
  const auto t0 = Clock::now();
  const std::vector<pipeline::SweepCandidate> candidates = sweep_candidates(o, model);
  const fs::path file = fs::path(out_dir) / "sweep.json";
  if (std::optional<SweepResult> r = read_sweep(file, candidates, o)) {
    spdlog::info("auto: per-layer sweep read from {} ({} measurements)", file.string(), r->rows.size());
    return *r;
  }
  // The stages' own info lines (calibration, pruning summaries) repeat per candidate: only the
  // sweep's rows are logged at info, the stages' lines with -v.
  struct LevelGuard {
    spdlog::level::level_enum saved = spdlog::get_level();
    void quiet() const {
      if (saved > spdlog::level::debug) spdlog::set_level(spdlog::level::warn);
    }
    ~LevelGuard() { spdlog::set_level(saved); }
  } level;
  pipeline::SweepBaseline baseline;
  pipeline::SweepOptions so = sweep_options(recipe, data, registry, o, out_dir, baseline);
  so.on_row = [&](size_t i, size_t n, const pipeline::SweepRow& r) {
    spdlog::set_level(level.saved);
    if (r.ok)
      spdlog::info("auto: sweep {}/{}: {} {}={}: top-1 {:.2f} %{}, MACs {}, bytes {}{}", i + 1, n, r.candidate.knob,
                   r.candidate.layer, r.candidate.setting, r.top1 * 100,
                   r.recovery_seconds > 0
                       ? fmt::format(" ({:.2f} % before its fine-tune{})", r.top1_before_recovery * 100,
                                     r.extended ? fmt::format(", {} steps", o.sweep_long_finetune_steps) : std::string())
                       : std::string(),
                   r.macs, r.bytes_stored, r.cost > 0 ? fmt::format(", ORT {:.2f} ms", r.cost) : std::string());
    else
      spdlog::debug("auto: sweep {}/{}: {} {}={}: not applicable: {}", i + 1, n, r.candidate.knob, r.candidate.layer,
                    r.candidate.setting, r.error);
    level.quiet();
  };
  spdlog::info("auto: per-layer sweep: {} measurements on {} batches of data.val{}{}", candidates.size(),
               o.sweep_batches == 0 ? std::string("all") : std::to_string(o.sweep_batches),
               o.sweep_finetune_steps > 0
                   ? ", each move fine-tuned " + std::to_string(o.sweep_finetune_steps) + " steps (quantization excepted)"
                   : std::string(),
               o.sweep_bn_batches > 0
                   ? ", BatchNorm statistics re-estimated on " + std::to_string(o.sweep_bn_batches) + " batches of data.train"
                   : std::string());
  level.quiet();
  baseline = pipeline::sweep_baseline(model, data, so);
  const std::vector<pipeline::SweepRow> rows = pipeline::sweep_layers(model, recipe, data, registry, candidates, so);
  fs::remove_all(so.work_dir);
  write_file_atomically(file.string(),
                        [&](std::ostream& s) { s << sweep_to_json(baseline, rows, sweep_settings(o)).dump(1) << "\n"; });
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  double bn_seconds = 0, recovery_seconds = 0;
  for (const auto& r : rows) bn_seconds += r.bn_seconds, recovery_seconds += r.recovery_seconds;
  spdlog::set_level(level.saved);  // quiet() after the last row
  spdlog::info("auto: per-layer sweep took {:.0f} s, of which {:.0f} s fine-tuning and {:.0f} s re-estimating "
               "BatchNorm statistics",
               seconds, recovery_seconds, bn_seconds);
  return {baseline, rows, seconds};
}

}  // namespace mc::search
