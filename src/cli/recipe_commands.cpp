// The recipe-driven commands: `compress --recipe R.yaml`, `compress validate`, `compress stages`,
// `compress recipes` (`compress eval`: eval.cpp).
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/stage_registry.h"
#include "common/error.h"
#include "pipeline/data_context.h"
#include "pipeline/runner.h"
#include "pipeline/stage.h"
#include "recipe/shipped_recipes.h"
#include "search/auto_options.h"

namespace mc::cli {

namespace {
struct RecipeArgs {
  pipeline::RunOptions run;
  std::string validate_path;
};
RecipeArgs& args() {
  static RecipeArgs a;
  return a;
}

// The recipe file for a --recipe / validate argument (a shipped recipe by bare name: said on stderr).
std::string recipe_file(const std::string& arg) {
  recipe::ResolvedRecipe r = recipe::resolve_recipe(arg);
  if (r.shipped) std::cerr << "using the shipped recipe " << r.path << "\n";
  return r.path;
}

void add_recipes_command(CLI::App& app, CommandTable& t) {
  CLI::App* l = app.add_subcommand("recipes", "List the shipped recipes (run one by name: compress --recipe NAME)");
  t.add(l, [] {
    auto all = recipe::shipped_recipes();
    size_t w = 0;
    for (auto& r : all) w = std::max(w, r.name.size());
    for (auto& r : all) std::cout << std::left << std::setw(static_cast<int>(w + 2)) << r.name << r.summary << "\n";
    if (all.empty()) std::cout << "no shipped recipes found (set MC_RECIPE_DIR to a folder of recipes)\n";
    return 0;
  });
}
}  // namespace

void add_recipe_commands(CLI::App& app, CommandTable& t, const GlobalOptions& g) {
  auto& a = args();
  app.add_option("--recipe", a.run.recipe_path, "Run a recipe: a YAML file or the name of a shipped one (`compress recipes`)");
  app.add_option("--set", a.run.sets, "Override a recipe value: KEY.PATH=VALUE (e.g. stages.1.finetune.epochs=1)");
  app.add_option("--out", a.run.out_dir, "Run directory (default runs/<recipe name>)");
  app.add_option("--device", a.run.device, "cpu or cuda (overrides the recipe)");
  app.add_option("--threads", a.run.threads, "Intra-op threads (overrides the recipe)");
  app.add_flag("--dry-run", a.run.dry_run, "Validate and print the effective recipe; run nothing");
  app.add_flag("--resume", a.run.resume, "Continue an interrupted run after its last finished stage");
  app.add_option("--trace-steps", a.run.trace_steps,
                 "Append each training step's loss to FILE (\"<stage> <epoch> <step> <loss>\", then the QAT ranges and "
                 "pruning mask digests as \"<modifier>=<state>\"); rank k > 0 of a data-parallel run writes FILE.rank<k>");
  t.set_main([&a] { return !a.run.recipe_path.empty(); }, [&a, &g] {
    a.run.quiet = g.quiet;
    a.run.recipe_path = recipe_file(a.run.recipe_path);
    return pipeline::run_recipe(a.run, stage_registry());
  });

  CLI::App* v = app.add_subcommand("validate", "Check a recipe (all errors at once) without running it");
  v->add_option("recipe", a.validate_path, "Recipe file or the name of a shipped recipe")->required();
  v->add_option("--set", a.run.sets, "Override a recipe value: KEY.PATH=VALUE");
  t.add(v, [&a] {
    recipe::Diagnostics diag;
    a.validate_path = recipe_file(a.validate_path);
    pipeline::Plan plan = pipeline::make_plan(a.validate_path, a.run.sets, stage_registry(), diag);
    pipeline::DataContext data(plan.recipe);
    data.open(diag);
    pipeline::check_stage_data(plan, data, diag);
    diag.throw_if_any("invalid recipe '" + a.validate_path + "'");
    std::string what = std::to_string(plan.stages.size()) + " stages";
    if (!plan.recipe.auto_section.is_null())  // `compress auto`'s section
      what = "auto search over " + std::to_string(search::read_auto_options(plan.recipe).knobs.size()) + " knobs" +
             (plan.stages.empty() ? "" : ", " + what);
    // The checks that need the model (ranks that fit its layers, globs that match them).
    const ir::Model model = pipeline::load_recipe_model(plan.recipe, data);
    pipeline::check_data_on_model(data, model, diag);
    pipeline::check_stages_on_model(plan, model, diag);
    diag.throw_if_any("invalid recipe '" + a.validate_path + "'");
    std::cout << a.validate_path << ": ok (" << what << ")\n";
    return 0;
  });

  add_recipes_command(app, t);

  CLI::App* s = app.add_subcommand("stages", "List every stage with its options, types, defaults and docs");
  t.add(s, [] {
    for (const auto& info : stage_registry().all()) {
      std::cout << info.name << "\n    " << info.doc << "\n";
      for (const auto& d : info.describe()) {
        std::cout << "    " << std::left << std::setw(34) << d.key << std::setw(12) << d.type << std::setw(10)
                  << d.default_value << " " << d.doc;
        if (!d.constraint.empty()) std::cout << " [" << d.constraint << "]";
        std::cout << "\n";
      }
      std::cout << "\n";
    }
    return 0;
  });
}

}  // namespace mc::cli
