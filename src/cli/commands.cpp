#include "cli/commands.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include "frontend/frontend.h"
#include "train/threads.h"

namespace mc::cli {

std::vector<ir::TensorType> InputArgs::parse() const { return frontend::parse_inputs(shapes, dtypes); }

void add_input_options(CLI::App* sub, InputArgs& a, const std::string& shape_help) {
  sub->add_option("--input-shape", a.shapes, shape_help + "; repeat it for a model with several inputs, in forward's order")
      ->allow_extra_args(false);
  sub->add_option("--input-dtype", a.dtypes,
                  "Input dtype: float32 (default), int64 (token ids, masks) or int32; once for every input or once per input")
      ->allow_extra_args(false);
}

namespace {
CommandTable& table() {
  static CommandTable t;
  return t;
}
}  // namespace

int CommandTable::run(CLI::App& app) const {
  for (CLI::App* sub : app.get_subcommands()) {
    auto it = actions_.find(sub);
    if (it != actions_.end()) return it->second();
  }
  if (has_main()) return main_();
  return 2;
}

void setup_logging(const GlobalOptions& g) {
  spdlog::set_pattern("%^%l%$: %v");
  spdlog::set_level(g.quiet ? spdlog::level::err : g.verbose ? spdlog::level::debug : spdlog::level::info);
}

void register_commands(CLI::App& app, GlobalOptions& g) {
  add_inspect_command(app, table(), g);
  add_run_command(app, table(), g);
  add_export_command(app, table(), g);
  add_bench_command(app, table(), g);
  add_recipe_commands(app, table(), g);
  add_eval_command(app, table(), g);
  add_check_tensorrt_command(app, table(), g);
  add_pack_commands(app, table(), g);
  add_report_command(app, table(), g);
  add_launch_command(app, table(), g);
  add_analyze_command(app, table(), g);
  add_auto_command(app, table(), g);
}

bool has_main_action(const GlobalOptions&) { return table().has_main(); }

int run_selected(CLI::App& app, GlobalOptions& g) {
  setup_logging(g);
  const std::string wait = train::startup_omp_wait_policy();
  spdlog::debug("compute threads: ATen {} (OpenMP, OMP_WAIT_POLICY={} at start-up), OpenBLAS {}", at::get_num_threads(),
                wait.empty() ? "unset" : wait, train::blas_threads());
  return table().run(app);
}

}  // namespace mc::cli
