// `compress launch` as users run it: the workers are the compress binary itself; rank 0's output
// on the terminal, the others' prefixed; bad flags, a taken port and a failing worker give one clear
// message and the exit code.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

#include "support/test_env.h"

namespace mc {
namespace {

using test::run_compress;

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(LaunchCli, Help) {
  auto h = run_compress("launch --help");
  EXPECT_EQ(h.exit_code, 0) << h.out;
  for (const char* s : {"--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port", "--grace", "[rank K]"})
    EXPECT_NE(h.out.find(s), std::string::npos) << s << " missing in\n" << h.out;
  auto top = run_compress("--help");
  EXPECT_NE(top.out.find("launch"), std::string::npos) << top.out;
}

TEST(LaunchCli, EveryWorkerRunsTheCommand) {
  // Two workers of `inspect` (which reads no distributed environment): rank 0's table on the
  // terminal as is, rank 1's with its prefix; one of each line.
  auto r = run_compress("launch --nproc 2 --master-port 0 -- inspect zoo:resnet8 --input-shape 1,1,28,28");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream lines(r.out);
  size_t plain = 0, prefixed = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("layer1.0.conv1 ") == std::string::npos) continue;
    if (line.rfind("[rank 1] ", 0) == 0) ++prefixed;
    else if (line.rfind("layer1.0.conv1 ", 0) == 0) ++plain;
  }
  EXPECT_EQ(plain, 1u) << r.out;
  EXPECT_EQ(prefixed, 1u) << r.out;
  EXPECT_EQ(count(r.out, "[rank 0]"), 0u) << r.out;
}

TEST(LaunchCli, BadFlagsExitTwoWithOneMessage) {
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"launch --nproc 0 -- inspect zoo:resnet8", "--nproc 0: the number of workers on this node must be at least 1"},
      {"launch --nproc 2 --nnodes 2 --node-rank 2 -- inspect zoo:resnet8", "--node-rank 2 with --nnodes 2"},
      {"launch --nproc 2 inspect zoo:resnet8", "the worker command must follow `--`"},
      {"launch --nproc 2 --recipe R.yaml", "(unknown launch option --recipe)"},
      {"launch --nproc 2 --", "nothing after `--`"},
      {"launch --nproc 2 --nnodes 2 --master-port 0 -- inspect zoo:resnet8", "--master-port 0 picks a port only this node knows"},
      {"launch --nproc 2 --grace -1 -- inspect zoo:resnet8", "--grace"},
      {"launch --nproc 2 -- launch --nproc 2 -- inspect zoo:resnet8", "the worker command is `launch` again"},
  };
  for (const Case& c : cases) {
    auto r = run_compress(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(count(r.out, "error:"), 1u) << c.args << "\n" << r.out;
  }
}

TEST(LaunchCli, PortInUseExitsTwoNamingThePort) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string port = std::to_string(ntohs(a.sin_port));
  // Held on 127.0.0.1 only: c10d's store listens on every address, so it would fail on this port too.
  auto r = run_compress("launch --nproc 2 --master-port " + port + " -- inspect zoo:resnet8 --input-shape 1,1,28,28");
  ::close(fd);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("port " + port + " is already in use"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--master-port"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("scope"), std::string::npos) << "a worker ran:\n" << r.out;
}

TEST(LaunchCli, AFailingWorkerGivesItsRankAndCode) {
  // Every worker fails the same way (an unknown model, exit 2); the first one seen is named with
  // its code, the code is the launcher's, and the other worker is stopped or has failed too.
  auto r = run_compress("launch --nproc 2 --master-port 0 -- inspect zoo:no_such_model");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown zoo model 'no_such_model'"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.find("error: launch: rank 0 (pid ") != std::string::npos ||
              r.out.find("error: launch: rank 1 (pid ") != std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(") exited with code 2; stopped the other workers: "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mc
