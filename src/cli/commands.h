// Subcommands. Each lives in its own file and registers itself in register_commands().
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/types.h"

namespace mc::cli {

/// --input-shape (repeatable: one per model input, in forward's order) and --input-dtype (once for
/// every input, or once per input) of the commands that load a model.
struct InputArgs {
  std::vector<std::string> shapes, dtypes;
  /// Parsed (frontend::parse_inputs); empty when no shape was given.
  std::vector<ir::TensorType> parse() const;
};
void add_input_options(CLI::App* sub, InputArgs& a, const std::string& shape_help);

struct GlobalOptions {
  bool verbose = false;
  bool quiet = false;
};

/// What a subcommand does once its options are parsed; returns the exit code.
using Action = std::function<int()>;

class CommandTable {
 public:
  void add(CLI::App* sub, Action a) { actions_[sub] = std::move(a); }
  /// The main action (no subcommand, e.g. --recipe), if one was set.
  void set_main(std::function<bool()> selected, Action a) {
    main_selected_ = std::move(selected);
    main_ = std::move(a);
  }
  int run(CLI::App& app) const;
  bool has_main() const { return main_selected_ && main_selected_(); }

 private:
  std::map<CLI::App*, Action> actions_;
  std::function<bool()> main_selected_;
  Action main_;
};

// One per command file.
void add_inspect_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_run_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_export_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_bench_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_recipe_commands(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_eval_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_check_tensorrt_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_pack_commands(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_report_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_launch_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_analyze_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);
void add_auto_command(CLI::App& app, CommandTable& t, const GlobalOptions& g);

void register_commands(CLI::App& app, GlobalOptions& g);
bool has_main_action(const GlobalOptions& g);
int run_selected(CLI::App& app, GlobalOptions& g);

/// Sets up spdlog for the global verbosity flags.
void setup_logging(const GlobalOptions& g);

}  // namespace mc::cli
