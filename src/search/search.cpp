#include "search/search.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "common/atomic_file.h"
#include "common/error.h"
#include "search/auto_report.h"
#include "search/moves.h"
#include "search/search_files.h"
#include "search/sweep.h"
#include "search/trial.h"

namespace mc::search {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::string describe(const Config& c) {
  if (c.empty()) return "baseline (the model as loaded)";
  std::string s;
  for (const Move& m : c) s += (s.empty() ? "" : ", ") + m.knob + " " + m.layer + "=" + m.setting;
  return s;
}

// The recipe's hash without the budget (auto.trials, auto.minutes): --resume may raise the budget
// of a search, not change what it searches.
std::string search_hash(const recipe::Recipe& recipe) {
  recipe::ConfigNode tree = recipe.tree;
  if (recipe::ConfigNode* a = tree.find("auto"); a && a->is_map())
    for (const char* k : {"trials", "minutes"}) a->erase(k);
  return recipe::hash_text(tree.to_yaml());
}

nlohmann::json search_identity(const recipe::Recipe& recipe, const AutoOptions& o) {
  return {{"format", "compress-auto-1"}, {"recipe", recipe.source_path}, {"recipe_hash", search_hash(recipe)},
          {"objective", o.objective}, {"max_loss", o.max_loss}, {"loss", o.loss}};
}

// Checks or creates the search directory: a fresh search needs an empty one; --resume needs the
// search.json of the same recipe.
void prepare_dir(const recipe::Recipe& recipe, const AutoOptions& o, const SearchRun& run) {
  const fs::path out(run.out_dir);
  const fs::path id = out / "search.json";
  if (run.resume) {
    if (!fs::exists(id))
      throw InputError("--resume: " + id.string() + " does not exist; start the search without --resume");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(id.string()));
    } catch (const nlohmann::json::exception& e) {
      throw InputError(id.string() + " is not valid JSON (" + e.what() + "); delete " + run.out_dir + " and start again");
    }
    if (j.value("recipe_hash", "") != search_hash(recipe))
      throw InputError("--resume: " + run.out_dir + " holds a search of another recipe (or of this one before it was "
                       "edited beyond auto.trials and auto.minutes: recipe hash " + j.value("recipe_hash", "?") +
                       ", now " + search_hash(recipe) + "); use another --out or run without --resume after deleting it");
    return;
  }
  if (fs::exists(out) && !fs::is_empty(out))
    throw InputError(run.out_dir + " is not empty: continue that search with --resume, or choose another --out");
  fs::create_directories(out);
  write_file_atomically(id.string(), [&](std::ostream& s) { s << search_identity(recipe, o).dump(2) << "\n"; });
}

class Searcher {
 public:
  Searcher(const recipe::Recipe& recipe, const ir::Model& model, const AutoOptions& o, const SearchRun& run,
           double spent_before)
      : recipe_(recipe), model_(model), o_(o), run_(run), start_(Clock::now()), spent_before_(spent_before) {
    trials_ = read_trials(jsonl());
    for (const auto& t : trials_) spent_before_ += t.seconds;
  }

  double elapsed() const { return spent_before_ + std::chrono::duration<double>(Clock::now() - start_).count(); }

  /// The result of `config`: from trials.jsonl when it ran before, else run now. nullopt when the
  /// budget (trials or time) does not allow another trial.
  std::optional<TrialResult> evaluate(const Config& config) {
    const std::string key = config_key(config);
    for (const auto& t : trials_)
      if (config_key(t.config) == key) return t;
    if (static_cast<int64_t>(trials_.size()) >= o_.trials) return std::nullopt;
    if (!trials_.empty() && elapsed() + estimate() > o_.minutes * 60) return std::nullopt;
    const int64_t index = static_cast<int64_t>(trials_.size());
    const std::string rel = fmt::format("trials/{:03d}", index);
    const fs::path dir = fs::path(run_.out_dir) / rel;
    fs::remove_all(dir);  // a trial killed half-way runs again from the start
    fs::create_directories(dir);
    const std::string name = recipe_.name + fmt::format("_t{:03d}", index);
    const recipe::ConfigNode text = trial_recipe(recipe_, o_, model_, config, name);
    write_file_atomically((dir / "recipe.yaml").string(), [&](std::ostream& s) {
      s << "# compress auto, trial " << index << ": " << describe(config) << "\n" << text.to_yaml();
    });
    spdlog::info("auto: trial {} ({} of at most {}): {}", index, index + 1, o_.trials, describe(config));
    TrialResult r = run_trial(run_.exe, (dir / "recipe.yaml").string(), (dir / "run").string(), o_);
    r.index = index;
    r.config = config;
    r.dir = rel;
    append_trial(jsonl(), r);
    trials_.push_back(r);
    ++run_here_;
    log_trial(r);
    write_results(run_.out_dir, trials_, o_);
    write_auto_report(run_.out_dir, trials_, o_);
    return r;
  }

  bool passes(const TrialResult& r) const { return r.status == "done" && r.top1 >= min_top1_; }
  void set_min_top1(double v) { min_top1_ = v; }
  const std::vector<TrialResult>& trials() const { return trials_; }
  int64_t run_here() const { return run_here_; }

 private:
  std::string jsonl() const { return (fs::path(run_.out_dir) / "trials.jsonl").string(); }
  // The longest trial so far: no trial starts that would not end within the budget.
  double estimate() const {
    double m = 0;
    for (const auto& t : trials_) m = std::max(m, t.seconds);
    return m;
  }
  void log_trial(const TrialResult& r) const {
    if (r.status != "done") {
      spdlog::warn("auto: trial {} failed: {}", r.index, r.error);
      return;
    }
    spdlog::info("auto: trial {}: {} {:.6g}, top-1 {:.2f} % ({}), {:.0f} s", r.index, o_.objective, r.objective,
                 r.top1 * 100, min_top1_ > 0 ? (r.top1 >= min_top1_ ? "within the constraint" : "below the constraint")
                                             : "baseline",
                 r.seconds);
  }

  const recipe::Recipe& recipe_;
  const ir::Model& model_;
  const AutoOptions& o_;
  const SearchRun& run_;
  Clock::time_point start_;
  double spent_before_ = 0;
  std::vector<TrialResult> trials_;
  double min_top1_ = 0;
  int64_t run_here_ = 0;
};

}  // namespace

SearchOutcome run_search(const recipe::Recipe& recipe, pipeline::DataContext& data, const ir::Model& model,
                         const pipeline::StageRegistry& registry, const AutoOptions& o, const SearchRun& run) {
  prepare_dir(recipe, o, run);
  const SweepResult sweep = run_sweep(recipe, data, model, registry, o, run.out_dir);
  const pipeline::SweepBaseline& baseline = sweep.baseline;
  const std::vector<pipeline::SweepRow>& rows = sweep.rows;
  const std::vector<RankedMove> ranked = rank_moves(rows, baseline, o);
  spdlog::info("auto: {} moves ranked by gain per top-1 lost; first: {}", ranked.size(),
               ranked.empty() ? std::string("none")
                              : ranked[0].move.knob + " " + ranked[0].move.layer + "=" + ranked[0].move.setting);
  Searcher s(recipe, model, o, run, sweep.seconds);

  // 1. The baseline: the model as loaded, exported and measured like every trial.
  const std::optional<TrialResult> base = s.evaluate({});
  if (!base || base->status != "done")
    throw RuntimeFailure("auto: the baseline trial (the model as loaded) failed" +
                         (base ? ": " + base->error : std::string()) + "; see " + run.out_dir + "/trials/000/run");
  s.set_min_top1(o.min_top1(base->top1));

  // 2. Bisection on how many of the ranked moves to take: lo passes, hi does not (or is past the end).
  size_t lo = 0, hi = ranked.size() + 1;
  Config best = {};
  bool budget = true;
  while (budget && hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    const Config c = prefix_config(ranked, mid);
    const std::optional<TrialResult> r = s.evaluate(c);
    if (!r) budget = false;
    else if (s.passes(*r)) lo = mid, best = c;
    else hi = mid;
  }
  double best_objective = base->objective;
  for (const auto& t : s.trials())
    if (config_key(t.config) == config_key(best) && t.status == "done") best_objective = t.objective;

  // 3. Refinement: kernel-speed knobs (INT8 under ort_latency) as one whole-model trial, then one
  //    more ranked move at a time on top of the best so far.
  auto try_config = [&](const Config& c) {
    if (!budget || config_key(c) == config_key(best)) return;
    const std::optional<TrialResult> r = s.evaluate(c);
    if (!r) {
      budget = false;
      return;
    }
    if (s.passes(*r) && r->objective < best_objective) best = c, best_objective = r->objective;
  };
  if (o.objective == "ort_latency") {
    const double tolerance = base->top1 - o.min_top1(base->top1);  // the whole loss allowed, per layer
    Config c = best;
    for (const Move& m : kernel_moves(rows, baseline, tolerance)) c = with_move(c, m);
    try_config(c);
  }
  for (size_t i = lo; i < ranked.size() && budget; ++i) {
    if (i + 1 == hi) continue;  // the move that broke the bisection's prefix
    try_config(with_move(best, ranked[i].move));
  }

  write_results(run.out_dir, s.trials(), o);
  write_auto_report(run.out_dir, s.trials(), o);
  SearchOutcome out;
  out.trials = static_cast<int64_t>(s.trials().size());
  out.trials_run = s.run_here();
  const std::optional<Best> b = choose_best(s.trials(), o);
  if (b) {
    const TrialResult& t = s.trials()[b->index];
    out.has_best = true;
    out.met = b->met;
    out.miss_points = b->miss;
    const double ratio = t.objective > 0 ? base->objective / t.objective : 0.0;
    if (!b->compressed)
      out.summary = "no trial besides the baseline finished: nothing saved (raise auto.trials or auto.minutes)";
    else if (b->met)
      out.summary = fmt::format("best: trial {} ({}): {} {:.6g} ({:.2f}x the baseline's {:.6g}), top-1 {:.2f} % "
                                "(baseline {:.2f} %, tolerated {:.2f} %)",
                                t.index, describe(t.config), o.objective, t.objective, ratio, base->objective,
                                t.top1 * 100, base->top1 * 100, o.min_top1(base->top1) * 100);
    else
      out.summary = fmt::format("no trial met the constraint; closest: trial {} ({}): top-1 {:.2f} %, {:.2f} points "
                                "below the tolerated {:.2f} % ({} {:.6g}, {:.2f}x the baseline)",
                                t.index, describe(t.config), t.top1 * 100, b->miss, o.min_top1(base->top1) * 100,
                                o.objective, t.objective, ratio);
  }
  return out;
}

}  // namespace mc::search
