// Subcommands. Each lives in its own file and registers itself in register_commands().
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <string>

namespace mc::cli {

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

void register_commands(CLI::App& app, GlobalOptions& g);
bool has_main_action(const GlobalOptions& g);
int run_selected(CLI::App& app, GlobalOptions& g);

/// Sets up spdlog for the global verbosity flags.
void setup_logging(const GlobalOptions& g);

}  // namespace mc::cli
