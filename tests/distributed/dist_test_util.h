// Helpers for the distributed tests: a free loopback port, and N ranks run as threads of this process
// (each with its own World: TCPStore client or server, Gloo process group), the way PyTorch's own
// multi-threaded process-group tests do. Processes are tested through `compress` (tests/pipeline).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "distributed/world.h"

namespace mc::test {

/// A TCP port that was free a moment ago (bound to port 0 by the kernel, then released).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("free_port: bind");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline dist::WorldConfig loopback_config(int rank, int size, int port, int timeout_s = 20) {
  dist::WorldConfig c;
  c.rank = rank;
  c.world_size = size;
  c.master_addr = "127.0.0.1";
  c.master_port = port;
  c.timeout = std::chrono::seconds(timeout_s);
  return c;
}

/// Runs body(rank, world) on `size` threads, each connected as that rank; rethrows the first
/// exception of any rank (after all threads joined).
inline void run_ranks(int size, const std::function<void(int, dist::World&)>& body, int timeout_s = 20) {
  const int port = free_port();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      try {
        auto w = dist::World::connect(loopback_config(r, size, port, timeout_s));
        body(r, *w);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace mc::test
