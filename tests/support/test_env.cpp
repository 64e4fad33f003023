#include "support/test_env.h"

#include "common/atomic_file.h"

#include <sys/wait.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

namespace mc::test {

std::string source_dir() { return MC_SOURCE_DIR; }
std::string fixture_dir() { return MC_FIXTURE_DIR; }
std::string resnet8_fixture() { return fixture_dir() + "/resnet8_fmnist/resnet8_fmnist.mcm"; }
nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }
std::string compress_bin() { return MC_COMPRESS_BIN; }

RunResult run_command(const std::string& cmdline) {
  RunResult r;
  std::string full = cmdline + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmdline);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

RunResult run_compress(const std::string& args) { return run_command(compress_bin() + " " + args); }

::testing::AssertionResult python_oracle(const std::string& modules) {
  static std::map<std::string, RunResult> imported;  // module -> result of importing it (cached)
  std::stringstream list(modules);
  for (std::string m; std::getline(list, m, ',');) {
    m.erase(0, m.find_first_not_of(' '));
    m.erase(m.find_last_not_of(' ') + 1);
    auto it = imported.find(m);
    if (it == imported.end()) it = imported.emplace(m, run_command("/usr/bin/python3 -c 'import " + m + "'")).first;
    if (it->second.exit_code != 0)
      return ::testing::AssertionFailure()
             << "the test oracle is missing: /usr/bin/python3 cannot import " << m << " (exit " << it->second.exit_code
             << "): " << it->second.out << "install the test dependencies with `make deps` (scripts/install-deps.sh, "
             << "Debian package python3-" << m << ")";
  }
  return ::testing::AssertionSuccess();
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = std::string(MC_BINARY_DIR) + "/tmp/t" + std::to_string(rd()) + "_" + std::to_string(counter++);
  std::filesystem::create_directories(path_);
}
std::string TempDir::write(const std::string& name, const std::string& text) const {
  const std::string p = file(name);
  std::ofstream(p) << text;
  return p;
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace mc::test
