// The process supervision behind `compress launch` (a torchrun in the binary): starts the local
// workers of a data-parallel run with the torchrun environment, relays their output, forwards
// SIGINT/SIGTERM/SIGHUP to them, and stops all of them when one fails. POSIX (Linux) only; the CLI
// (src/cli/launch.cpp) prints and exits, this file returns what happened.
#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mc::dist {

struct LaunchOptions {
  std::string program;            // the worker executable (the CLI passes /proc/self/exe)
  std::vector<std::string> args;  // its arguments (argv[1..])
  int nproc = 1;                  // workers on this node
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;  // 0: a free port of this node (single node only)
  /// After the first failure (or a forwarded signal), how long the other workers get between
  /// SIGTERM and SIGKILL.
  std::chrono::milliseconds grace{10000};
  /// OMP_NUM_THREADS of every worker when the launcher's environment does not set it; 0: the
  /// node's cores divided by nproc (at least 1). A recipe's `threads` (or --threads) still wins.
  int threads_per_proc = 0;
  /// Receives the output of every worker except global rank 0 (whose stdout/stderr are the
  /// launcher's own), one line at a time without its '\n'. Null: their output goes to /dev/null.
  std::function<void(int rank, const std::string& line)> on_output;
};

/// How one worker ended.
struct WorkerExit {
  int rank = -1;            // global rank
  int pid = -1;
  int exit_code = -1;       // its exit code, or 128 + signal when a signal ended it
  int signal = 0;           // the signal that ended it, 0 when it exited
  bool stopped_by_launcher = false;  // it was still running when the launcher sent SIGTERM/SIGKILL
  bool killed_after_grace = false;   // it outlived the grace period and got SIGKILL
  bool failed() const { return exit_code != 0; }
};

struct LaunchResult {
  int master_port = 0;                     // the port the workers were given
  std::vector<WorkerExit> workers;         // by local rank
  std::optional<WorkerExit> first_failure;  // the first worker seen to fail (exit code != 0 or a signal)
  int interrupted_by = 0;                  // a signal the launcher received and forwarded (0: none)
  /// The launcher's exit code: the first failing worker's, else 128 + the forwarded signal, else 0.
  int exit_code() const;
};

/// Checks the options (InputError naming the flag and how to fix it): nproc >= 1, nnodes >= 1,
/// 0 <= node_rank < nnodes, a port in 0..65535, port 0 only on a single node, a program and an
/// address.
void validate(const LaunchOptions& o);

/// Whether TCP `port` can be listened on at every address of this node (what c10d's TCPStore does on
/// the node of rank 0): 0, or the errno of binding it (EADDRINUSE when something listens there).
int port_error(int port);
/// A TCP port nothing listens on now (the kernel's choice).
int pick_free_port();

/// The environment of worker `local_rank` (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
/// GROUP_RANK, MASTER_ADDR, MASTER_PORT, OMP_NUM_THREADS unless set) on top of `base`
/// ("NAME=value" entries; later entries replace earlier ones of the same name).
std::vector<std::string> worker_environment(const LaunchOptions& o, int local_rank, int master_port,
                                            const std::vector<std::string>& base);

/// Validates, checks the master port when this node hosts rank 0 (InputError naming the port and
/// --master-port when it is taken), starts the workers and waits for all of them. Blocks SIGINT,
/// SIGTERM, SIGHUP and SIGCHLD in the calling thread while it runs (they are received through a
/// signalfd) and restores the mask before it returns. Workers get SIGKILL if the launcher dies
/// (PR_SET_PDEATHSIG), so none outlives it. RuntimeFailure when a worker cannot be started.
LaunchResult launch(const LaunchOptions& o);

}  // namespace mc::dist
