// Fuzz target: recipes, as `compress validate` / `--dry-run` read them: YAML text -> located config
// tree -> includes and --set overrides -> recipe sections -> every stage's options (the registry of
// the compress binary) -> plan checks -> the effective-recipe echo. Leading comment lines
// "# --set KEY=VALUE" are passed as --set overrides. Datasets are not opened (that reads the
// dataset files, ~0.3 s for Fashion-MNIST per input; the .npy reader has its own target).
#include <sstream>

#include "cli/stage_registry.h"
#include "fuzz/fuzz_target.h"
#include "pipeline/data_context.h"
#include "pipeline/runner.h"
#include "runtime/executor.h"

MC_FUZZ_TARGET(recipe) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sets;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line) && line.rfind("# --set ", 0) == 0;) sets.push_back(line.substr(8));
  mc::fuzz::expect_errors([&] {
    const std::string path = mc::fuzz::write_scratch("recipe.yaml", text);
    mc::recipe::Diagnostics diag;
    mc::pipeline::Plan plan = mc::pipeline::make_plan(path, sets, mc::cli::stage_registry(), diag);
    mc::pipeline::DataContext unopened(plan.recipe);
    mc::pipeline::check_stage_data(plan, unopened, diag);
    mc::pipeline::effective_recipe(plan).to_yaml();
    diag.throw_if_any("invalid recipe");
    mc::runtime::parse_device(plan.recipe.device);
  });
  return 0;
}
