// compress: the command-line entry point.
#include <CLI/CLI.hpp>

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "common/error.h"
#include "train/memory.h"
#include "train/threads.h"

int main(int argc, char** argv) {
  // A trial of `compress auto` (src/search/trial.cpp) dies with the search that started it, so a
  // killed search leaves no trial writing into the directory that --resume will reuse.
  if (const char* parent = std::getenv("MC_DIE_WITH_PARENT")) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (std::to_string(::getppid()) != parent) return 1;  // the search is already gone
  }
  // Before anything else: when OMP_WAIT_POLICY is unset, run this binary again with it set to
  // PASSIVE (libgomp reads it only when it is loaded; see train/threads.h for why and how much).
  mc::train::reexec_with_passive_omp_wait(argv);
  // Every command runs tensor workloads (inference for accuracy and latency too, not only training):
  // keep freed tensor memory in the process from the start, so that the first stages' latency is
  // not measured with page faults that later stages (after training tuned malloc) do not pay.
  mc::train::tune_malloc_for_training();
  CLI::App app{"compress: recipe-driven model compression (pruning, quantization, distillation) on LibTorch"};
  app.set_version_flag("--version", std::string("compress ") + MC_VERSION);
  mc::cli::GlobalOptions g;
  app.add_flag("-v,--verbose", g.verbose, "More log output");
  app.add_flag("-q,--quiet", g.quiet, "Only errors");
  app.require_subcommand(0, 1);
  mc::cli::register_commands(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (app.get_subcommands().empty() && !mc::cli::has_main_action(g)) {  // nothing to do
    std::cout << app.help();
    return 2;
  }
  try {
    return mc::cli::run_selected(app, g);
  } catch (const mc::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
