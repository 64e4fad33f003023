// The process supervision of `compress launch` (src/distributed/launcher.cpp) with /bin/sh workers,
// which can behave by rank: the torchrun environment every worker sees, the relay of their output,
// a failing worker stopping the others (SIGTERM, then SIGKILL after the grace period), signals
// forwarded to the workers, a port in use.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "distributed/launcher.h"
#include "support/test_env.h"

namespace mc {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Options for `sh -c script` workers on a free port.
dist::LaunchOptions sh_workers(int nproc, const std::string& script) {
  dist::LaunchOptions o;
  o.program = "/bin/sh";
  o.args = {"-c", script};
  o.nproc = nproc;
  o.master_port = 0;
  return o;
}

// A listening TCP socket on a free port (what another run's rendezvous looks like).
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on a free port");
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
};

TEST(Launcher, EveryWorkerSeesTheTorchrunEnvironment) {
  test::TempDir dir;
  // Node 1 of 2 nodes, 3 workers each: ranks 3, 4, 5 (node 1 does not host rank 0, so every worker's
  // output is relayed). Each writes its environment to a file named after its RANK and prints a line.
  dist::LaunchOptions o = sh_workers(3, "echo \"$RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $GROUP_RANK $MASTER_ADDR "
                                        "$MASTER_PORT\" > " + dir.path() + "/env.$RANK; echo hello from $RANK; "
                                        "printf 'no newline at the end'");
  o.nnodes = 2;
  o.node_rank = 1;
  o.master_addr = "10.1.2.3";
  o.master_port = 29777;  // not bound here: only node 0 checks and uses it
  std::map<int, std::vector<std::string>> lines;
  o.on_output = [&](int rank, const std::string& line) { lines[rank].push_back(line); };
  const dist::LaunchResult r = dist::launch(o);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_FALSE(r.first_failure);
  ASSERT_EQ(r.workers.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const int rank = 3 + i;
    EXPECT_EQ(r.workers[i].rank, rank);
    EXPECT_EQ(r.workers[i].exit_code, 0);
    EXPECT_FALSE(r.workers[i].stopped_by_launcher);
    EXPECT_EQ(slurp(dir.file("env." + std::to_string(rank))),
              std::to_string(rank) + " " + std::to_string(i) + " 6 3 1 10.1.2.3 29777\n");
    EXPECT_EQ(lines[rank], (std::vector<std::string>{"hello from " + std::to_string(rank), "no newline at the end"}));
  }
}

TEST(Launcher, WorkerEnvironmentKeepsOmpNumThreadsOrSplitsTheCores) {
  dist::LaunchOptions o = sh_workers(2, "true");
  o.master_port = 1234;
  auto value = [](const std::vector<std::string>& env, const std::string& name) {
    std::string v = "<unset>";
    for (const auto& e : env)
      if (e.rfind(name + "=", 0) == 0) v = e.substr(name.size() + 1);
    return v;
  };
  // Set by the user: kept. Stale torchrun variables of an outer launcher: replaced.
  auto env = dist::worker_environment(o, 1, 1234, {"OMP_NUM_THREADS=3", "RANK=7", "PATH=/bin"});
  EXPECT_EQ(value(env, "OMP_NUM_THREADS"), "3");
  EXPECT_EQ(value(env, "RANK"), "1");
  EXPECT_EQ(value(env, "PATH"), "/bin");
  EXPECT_EQ(std::count_if(env.begin(), env.end(), [](const std::string& e) { return e.rfind("RANK=", 0) == 0; }), 1);
  // Not set: the cores this process may run on, split between the workers (at least 1 each).
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  const int cores = CPU_COUNT(&set);
  env = dist::worker_environment(o, 0, 1234, {"PATH=/bin"});
  EXPECT_EQ(value(env, "OMP_NUM_THREADS"), std::to_string(std::max(1, cores / 2)));
  o.threads_per_proc = 5;
  env = dist::worker_environment(o, 0, 1234, {});
  EXPECT_EQ(value(env, "OMP_NUM_THREADS"), "5");
}

TEST(Launcher, AFailingWorkerStopsTheOthers) {
  // Rank 1 fails after 0.3 s; ranks 0 and 2 would sleep 60 s. They must be stopped by SIGTERM right
  // away (well within the 20 s grace period), and the result names rank 1 and its code.
  dist::LaunchOptions o = sh_workers(3, "if [ \"$RANK\" = 1 ]; then sleep 0.3; exit 3; fi; exec sleep 60");
  o.grace = std::chrono::seconds(20);
  const auto t0 = Clock::now();
  const dist::LaunchResult r = dist::launch(o);
  const double took = seconds_since(t0);
  EXPECT_LT(took, 10.0) << "the other workers were not stopped by SIGTERM";
  ASSERT_TRUE(r.first_failure);
  EXPECT_EQ(r.first_failure->rank, 1);
  EXPECT_EQ(r.first_failure->exit_code, 3);
  EXPECT_EQ(r.first_failure->signal, 0);
  EXPECT_EQ(r.exit_code(), 3);
  for (int rank : {0, 2}) {
    EXPECT_TRUE(r.workers[rank].stopped_by_launcher) << rank;
    EXPECT_EQ(r.workers[rank].signal, SIGTERM) << rank;
    EXPECT_FALSE(r.workers[rank].killed_after_grace) << rank;
  }
}

TEST(Launcher, AKilledWorkerIsReportedWithItsSignal) {
  // Rank 0 kills itself with SIGKILL (as the OOM killer or a user would); the code is 128 + 9.
  dist::LaunchOptions o = sh_workers(2, "if [ \"$RANK\" = 0 ]; then sleep 0.3; kill -KILL $$; fi; exec sleep 60");
  const dist::LaunchResult r = dist::launch(o);
  ASSERT_TRUE(r.first_failure);
  EXPECT_EQ(r.first_failure->rank, 0);
  EXPECT_EQ(r.first_failure->signal, SIGKILL);
  EXPECT_EQ(r.exit_code(), 128 + SIGKILL);
  EXPECT_EQ(r.workers[1].signal, SIGTERM);
}

TEST(Launcher, AWorkerIgnoringSigtermIsKilledAfterTheGracePeriod) {
  // Rank 1 ignores SIGTERM (an ignored signal stays ignored across exec): it gets SIGKILL once the
  // 1.5 s grace period is over, not before and not much later.
  dist::LaunchOptions o =
      sh_workers(2, "if [ \"$RANK\" = 0 ]; then sleep 0.3; exit 4; fi; trap '' TERM; exec sleep 60");
  o.grace = std::chrono::milliseconds(1500);
  const auto t0 = Clock::now();
  const dist::LaunchResult r = dist::launch(o);
  const double took = seconds_since(t0);
  EXPECT_GE(took, 0.3 + 1.5);
  EXPECT_LT(took, 0.3 + 1.5 + 5.0);
  EXPECT_EQ(r.exit_code(), 4);
  EXPECT_TRUE(r.workers[1].killed_after_grace);
  EXPECT_EQ(r.workers[1].signal, SIGKILL);
}

TEST(Launcher, SignalsToTheLauncherReachEveryWorker) {
  // The launcher runs in a child process of this test (it blocks SIGTERM in its thread; the test's
  // own threads must not see it). Every worker records the SIGTERM it gets; the launcher exits 143.
  test::TempDir dir;
  const std::string ready = dir.file("ready");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dist::LaunchOptions o = sh_workers(
        3, "trap 'echo TERM > " + dir.path() + "/got.$RANK; kill $child; exit 0' TERM; "
           "sleep 60 > /dev/null 2>&1 & child=$!; touch " + ready + ".$RANK; wait");
    int code = 1;
    try {
      code = dist::launch(o).exit_code();
    } catch (...) {
    }
    ::_exit(code);
  }
  const auto t0 = Clock::now();
  for (int rank = 0; rank < 3; ++rank)
    while (!std::filesystem::exists(ready + "." + std::to_string(rank)) && seconds_since(t0) < 30)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 128 + SIGTERM);
  for (int rank = 0; rank < 3; ++rank)
    EXPECT_EQ(slurp(dir.file("got." + std::to_string(rank))), "TERM\n") << "rank " << rank;
  EXPECT_LT(seconds_since(t0), 20.0);
}

TEST(Launcher, PortInUseOnNodeZeroIsAnInputError) {
  Listener taken;
  dist::LaunchOptions o = sh_workers(2, "exit 0");
  o.master_port = taken.port;
  EXPECT_EQ(dist::port_error(taken.port), EADDRINUSE);
  try {
    dist::launch(o);
    FAIL() << "a taken port was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("port " + std::to_string(taken.port) + " is already in use"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--master-port"), std::string::npos) << e.what();
  }
  // Another node does not host the rendezvous: the port is not its business.
  o.nnodes = 2;
  o.node_rank = 1;
  EXPECT_EQ(dist::launch(o).exit_code(), 0);
  // A free port picked for a single node is one nothing listens on.
  EXPECT_EQ(dist::port_error(dist::pick_free_port()), 0);
}

TEST(Launcher, BadOptionsAreInputErrors) {
  auto message = [](dist::LaunchOptions o) -> std::string {
    try {
      dist::validate(o);
    } catch (const InputError& e) {
      return e.what();
    }
    return "<accepted>";
  };
  dist::LaunchOptions o = sh_workers(1, "true");
  EXPECT_EQ(message(o), "<accepted>");
  o.nproc = 0;
  EXPECT_NE(message(o).find("--nproc 0"), std::string::npos) << message(o);
  o = sh_workers(1, "true");
  o.nnodes = 2;
  o.node_rank = 2;
  EXPECT_NE(message(o).find("--node-rank 2 with --nnodes 2"), std::string::npos) << message(o);
  o.node_rank = -1;
  EXPECT_NE(message(o).find("--node-rank -1"), std::string::npos) << message(o);
  o.node_rank = 1;
  o.master_port = 0;
  EXPECT_NE(message(o).find("--master-port 0"), std::string::npos) << message(o);
  o.master_port = 70000;
  EXPECT_NE(message(o).find("--master-port 70000"), std::string::npos) << message(o);
}

TEST(Launcher, AProgramThatCannotStartIsARuntimeFailure) {
  dist::LaunchOptions o = sh_workers(2, "true");
  o.program = test::TempDir().file("no-such-program");
  EXPECT_THROW(dist::launch(o), RuntimeFailure);
}

}  // namespace
}  // namespace mc
