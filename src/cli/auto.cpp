// compress auto RECIPE [--out DIR] [--resume] [--set KEY=VALUE ...] [--threads N]
// Accuracy-aware automatic compression: searches the knobs of the recipe's `auto:` section (per-layer
// pruning ratios, blocks, ranks, codebook sizes, weight bits) for the smallest objective (ONNX
// Runtime latency, MACs or file size) within the tolerated top-1 loss (src/search/search.h).
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/stage_registry.h"
#include "common/error.h"
#include "pipeline/runner.h"
#include "recipe/shipped_recipes.h"
#include "search/search.h"
#include "train/threads.h"

namespace mc::cli {
namespace {

struct AutoArgs {
  std::string recipe, out;
  std::vector<std::string> sets;
  int threads = -1;
  bool resume = false;
};

int run_auto(const AutoArgs& a, const GlobalOptions& g) {
  const recipe::ResolvedRecipe resolved = recipe::resolve_recipe(a.recipe);
  if (resolved.shipped) std::cerr << "using the shipped recipe " << resolved.path << "\n";
  recipe::Diagnostics diag;
  pipeline::Plan plan = pipeline::make_plan(resolved.path, a.sets, stage_registry(), diag);
  diag.throw_if_any("invalid recipe '" + resolved.path + "'");
  if (a.threads >= 0) plan.recipe.threads = a.threads;
  const search::AutoOptions options = search::read_auto_options(plan.recipe);
  pipeline::DataContext data(plan.recipe);
  data.open(diag);
  if (!data.has("val"))
    diag.error(plan.recipe.tree.key_loc("data"), "compress auto measures top-1 on data.val: the recipe needs one");
  if (!data.has("train")) {
    // the sweep's uses of data.train, each with the key that asks for it
    const recipe::ConfigNode& a = plan.recipe.auto_section;
    auto at = [&](const char* key) { return a.is_map() && a.find(key) ? a.find(key)->loc() : a.loc(); };
    if (options.sweep_bn_batches > 0)
      diag.error(at("sweep_bn_batches"),
                 "compress auto re-estimates BatchNorm statistics on data.train in its sweep (auto.sweep_bn_batches: " +
                     std::to_string(options.sweep_bn_batches) + "): add data.train or set auto.sweep_bn_batches: 0");
    if (options.sweep_finetune_steps > 0)
      diag.error(at("sweep_finetune_steps"),
                 "compress auto fine-tunes each move of its sweep on data.train (auto.sweep_finetune_steps: " +
                     std::to_string(options.sweep_finetune_steps) + "): add data.train or set auto.sweep_finetune_steps: 0");
  }
  diag.throw_if_any("invalid recipe '" + resolved.path + "'");
  if (plan.recipe.threads > 0) train::set_compute_threads(static_cast<int>(plan.recipe.threads));
  const ir::Model model = pipeline::load_recipe_model(plan.recipe, data);
  pipeline::check_data_on_model(data, model, diag);
  diag.throw_if_any("invalid recipe '" + resolved.path + "'");

  search::SearchRun run;
  run.exe = std::filesystem::read_symlink("/proc/self/exe").string();
  run.out_dir = a.out.empty() ? "runs/" + plan.recipe.name : a.out;
  run.resume = a.resume;
  run.quiet = g.quiet;
  const search::SearchOutcome out = search::run_search(plan.recipe, data, model, stage_registry(), options, run);
  std::cout << "compress auto: " << out.trials << " trials (" << out.trials_run << " run now) in " << run.out_dir << "\n";
  if (out.has_best) std::cout << out.summary << "\n";
  std::cout << "results: " << run.out_dir << "/best.yaml (compress --recipe), best.onnx, best.mcm, pareto.json, "
            << "trials.jsonl, report.html\n";
  return 0;
}

}  // namespace

void add_auto_command(CLI::App& app, CommandTable& t, const GlobalOptions& g) {
  auto a = std::make_shared<AutoArgs>();
  CLI::App* sub = app.add_subcommand(
      "auto", "Search pruning, rank, clustering and bit-width per layer for the smallest/fastest model within a top-1 loss");
  sub->add_option("recipe", a->recipe, "Recipe with an `auto:` section (a file or a shipped recipe's name)")->required();
  sub->add_option("--out", a->out, "Search directory (default runs/<recipe name>)");
  sub->add_flag("--resume", a->resume, "Continue the search in --out without repeating its finished trials");
  sub->add_option("--set", a->sets, "Override a recipe value: KEY.PATH=VALUE (e.g. auto.trials=4)");
  sub->add_option("--threads", a->threads, "Intra-op threads (overrides the recipe; the trials use it too)");
  t.add(sub, [a, &g] { return run_auto(*a, g); });
}

}  // namespace mc::cli
