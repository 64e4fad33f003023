// compress report RUN_DIR... --html compare.html
// Several runs side by side: reads each run directory's report.json (all of them first: a missing
// or damaged one is an error naming the file, exit 2, and nothing is written), then writes one
// self-contained HTML page (report/compare.h) atomically.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "report/compare.h"

namespace mc::cli {

namespace {

int compare(const std::vector<std::string>& dirs, const std::string& out, const GlobalOptions& g) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::absolute(out).parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec))
    throw InputError("--html " + out + ": directory '" + parent.string() + "' does not exist (create it first)");
  std::vector<report::RunReport> runs;
  for (const std::string& d : dirs) runs.push_back(report::read_run_report(d));
  const std::string page = report::compare_html(runs);
  write_file_atomically(out, [&](std::ostream& os) { os << page; });
  if (!g.quiet) std::cout << "wrote " << out << " (" << runs.size() << " runs)\n";
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app, CommandTable& t, const GlobalOptions& g) {
  struct Opts {
    std::vector<std::string> dirs;
    std::string html;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* r = app.add_subcommand("report", "Compare runs side by side: one HTML page with a table of each run's "
                                             "final model and scatters of top-1 against size and latency");
  r->add_option("runs", o->dirs, "Run directories (each with the report.json a recipe run wrote)")->required();
  r->add_option("--html", o->html, "HTML page to write (e.g. compare.html)")->required();
  t.add(r, [o, &g] { return compare(o->dirs, o->html, g); });
}

}  // namespace mc::cli
