// `compress launch --nproc N [--nnodes M --node-rank K --master-addr A --master-port P] -- ARGS`:
// a torchrun in the binary. Starts N workers of this same binary (`compress ARGS`) with the torchrun
// environment (RANK = node_rank * N + i, LOCAL_RANK, WORLD_SIZE = M * N, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT), waits for them and exits with the first failing worker's code after
// stopping the others. Global rank 0 writes to this terminal; every other worker's output comes
// here line by line as "[rank K] ..." on stderr. The supervision is src/distributed/launcher.cpp.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "distributed/launcher.h"

namespace mc::cli {
namespace {

struct LaunchArgs {
  dist::LaunchOptions o;
  double grace_s = 10.0;
  std::vector<std::string> command;  // what follows `--`
};

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string how_it_ended(const dist::WorkerExit& w) {
  if (w.signal) return "was killed by " + signal_name(w.signal);
  return "exited with code " + std::to_string(w.exit_code);
}

// The workers the launcher stopped, e.g. "rank 0 (SIGTERM), rank 2 (SIGKILL after the grace period)".
std::string stopped_list(const dist::LaunchResult& r) {
  std::ostringstream os;
  int n = 0;
  for (const dist::WorkerExit& w : r.workers) {
    if (!w.stopped_by_launcher || (r.first_failure && w.rank == r.first_failure->rank)) continue;
    os << (n++ ? ", " : "") << "rank " << w.rank << " ("
       << (w.killed_after_grace ? "SIGKILL after the grace period" : how_it_ended(w)) << ")";
  }
  return n ? os.str() : "none was still running";
}

std::string executable_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw RuntimeFailure("launch: cannot find this program's path (/proc/self/exe): " + std::string(std::strerror(errno)));
  return std::string(buf, static_cast<size_t>(n));
}

int run_launch(LaunchArgs& a, const CLI::App& sub) {
  const std::vector<std::string> rest = sub.remaining();
  if (rest != std::vector<std::string>{"--"})
    throw InputError("launch: the worker command must follow `--`, e.g. `compress launch --nproc 2 -- --recipe R.yaml`" +
                     std::string(rest.empty() || rest[0] == "--" ? "" : " (unknown launch option " + rest[0] + ")"));
  if (a.command.empty())
    throw InputError("launch: nothing after `--`: give the compress arguments each worker runs, e.g. -- --recipe R.yaml");
  if (a.command[0] == "launch")
    throw InputError("launch: the worker command is `launch` again: give the compress arguments each worker runs, e.g. -- --recipe R.yaml");
  if (!(a.grace_s >= 0.0 && a.grace_s <= 3600.0))
    throw InputError("launch: --grace " + std::to_string(a.grace_s) + ": seconds between SIGTERM and SIGKILL, 0..3600");
  a.o.program = executable_path();
  a.o.args = a.command;
  a.o.grace = std::chrono::milliseconds(static_cast<long long>(a.grace_s * 1000.0));
  a.o.on_output = [](int rank, const std::string& line) { std::cerr << "[rank " << rank << "] " << line << "\n"; };
  const dist::LaunchResult r = dist::launch(a.o);
  if (r.first_failure) {
    const dist::WorkerExit& f = *r.first_failure;
    std::cerr << "error: launch: rank " << f.rank << " (pid " << f.pid << ") " << how_it_ended(f)
              << "; stopped the other workers: " << stopped_list(r) << "\n";
  } else if (r.interrupted_by) {
    std::cerr << "error: launch: received " << signal_name(r.interrupted_by)
              << ", forwarded it to the workers: " << stopped_list(r) << "\n";
  }
  return r.exit_code();
}

}  // namespace

void add_launch_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  static LaunchArgs a;
  CLI::App* s = app.add_subcommand(
      "launch",
      "Start the workers of a data-parallel run on this node (a torchrun in the binary): compress launch --nproc N -- ARGS");
  s->add_option("--nproc", a.o.nproc, "Workers on this node (e.g. one per core group or GPU)")->required();
  s->add_option("--nnodes", a.o.nnodes, "Nodes of the run (default 1)");
  s->add_option("--node-rank", a.o.node_rank, "This node's index, 0..nnodes-1 (node 0 hosts rank 0; default 0)");
  s->add_option("--master-addr", a.o.master_addr, "Address of node 0, where rank 0 listens (default 127.0.0.1)");
  s->add_option("--master-port", a.o.master_port, "Rendezvous TCP port on node 0 (default 29500; 0: a free one, single node)");
  s->add_option("--grace", a.grace_s,
                "Seconds the other workers get between SIGTERM and SIGKILL once one fails or a signal arrives (default 10)");
  s->add_option("command", a.command, "The compress arguments every worker runs, after `--` (e.g. -- --recipe R.yaml)");
  s->allow_extras();
  s->footer(
      "Worker output: global rank 0 writes to this terminal; the others' lines come on stderr prefixed with\n"
      "\"[rank K] \". OMP_NUM_THREADS of each worker is the cores divided by --nproc unless it is set\n"
      "(a recipe's `threads` still wins). When a worker fails, the others get SIGTERM, then SIGKILL after\n"
      "--grace seconds; the exit code is the failed worker's (128 + signal when a signal killed it).\n"
      "SIGINT/SIGTERM/SIGHUP are forwarded to every worker (exit code 128 + signal).");
  t.add(s, [s] { return run_launch(a, *s); });
}

}  // namespace mc::cli
