// WorldConfig::from_env: the torchrun environment, every bad value an InputError naming the variable.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "distributed/world.h"

namespace mc::dist {
namespace {

const char* kLaunchHint =
    "(torchrun and `compress launch` set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for every process)";

// An integer variable: "" when unset, else its value; InputError when not an integer in [lo, hi].
bool read_int(const std::function<const char*(const char*)>& env, const char* name, long lo, long hi, long& out,
              const std::string& range) {
  const char* v = env(name);
  if (!v) return false;
  std::string s(v);
  char* end = nullptr;
  errno = 0;
  long x = s.empty() ? 0 : std::strtol(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || *end != '\0' || x < lo || x > hi)
    throw InputError("environment variable " + std::string(name) + "='" + s + "' is not " + range + " " + kLaunchHint);
  out = x;
  return true;
}

}  // namespace

WorldConfig WorldConfig::from_env(const std::function<const char*(const char*)>& getenv_fn) {
  const std::function<const char*(const char*)> env =
      getenv_fn ? getenv_fn : std::function<const char*(const char*)>([](const char* n) { return std::getenv(n); });
  WorldConfig c;
  long timeout_s = 0;
  if (read_int(env, "MC_DIST_TIMEOUT_S", 1, 7 * 24 * 3600, timeout_s, "a whole number of seconds in 1..604800 (e.g. 300)")) {
    c.timeout = std::chrono::seconds(timeout_s);
    c.timeout_from_env = true;
  }
  long rank = 0, size = 1, local = 0;
  const bool has_rank = read_int(env, "RANK", 0, 1 << 20, rank, "a rank (an integer >= 0)");
  const bool has_size = read_int(env, "WORLD_SIZE", 1, 1 << 20, size, "a number of processes (an integer >= 1)");
  if (has_size && !has_rank)
    throw InputError("environment variable WORLD_SIZE=" + std::to_string(size) +
                     " is set but RANK is not: set RANK to this process's rank (0.." + std::to_string(size - 1) +
                     "), or unset WORLD_SIZE for a single-process run " + kLaunchHint);
  if (has_rank && !has_size)
    throw InputError("environment variable RANK=" + std::to_string(rank) +
                     " is set but WORLD_SIZE is not: set WORLD_SIZE to the number of processes, or unset RANK for a "
                     "single-process run " + std::string(kLaunchHint));
  if (!has_rank) return c;
  if (rank >= size)
    throw InputError("environment variable RANK=" + std::to_string(rank) + " is not below WORLD_SIZE=" + std::to_string(size) +
                     ": ranks are 0.." + std::to_string(size - 1) + " " + kLaunchHint);
  read_int(env, "LOCAL_RANK", 0, 1 << 20, local, "a local rank (an integer >= 0)");
  c.rank = static_cast<int>(rank);
  c.world_size = static_cast<int>(size);
  c.local_rank = static_cast<int>(local);
  if (size == 1) return c;

  const char* addr = env("MASTER_ADDR");
  if (!addr || !*addr)
    throw InputError("environment variable MASTER_ADDR is not set (WORLD_SIZE=" + std::to_string(size) +
                     "): set it to the host of rank 0 (127.0.0.1 on one machine) " + kLaunchHint);
  c.master_addr = addr;
  long port = 0;
  if (!read_int(env, "MASTER_PORT", 1, 65535, port, "a TCP port (1..65535, e.g. 29500)"))
    throw InputError("environment variable MASTER_PORT is not set (WORLD_SIZE=" + std::to_string(size) +
                     "): set it to a free TCP port on rank 0's host (e.g. 29500) " + kLaunchHint);
  c.master_port = static_cast<int>(port);
  const char* agent = env("TORCHELASTIC_USE_AGENT_STORE");
  c.agent_store = agent && std::string(agent) == "True";
  if (const char* ifname = env("GLOO_SOCKET_IFNAME")) c.socket_ifname = ifname;
  return c;
}

}  // namespace mc::dist
