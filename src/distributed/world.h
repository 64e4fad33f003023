// The process group of a data-parallel run, on LibTorch's c10d (TCPStore rendezvous, Gloo
// collectives). A plain run has a World of one process and no process group: every operation is
// then a no-op (all_reduce leaves the tensors as they are, all_gather returns the one string).
//
//   dist::WorldConfig c = dist::WorldConfig::from_env();   // RANK, WORLD_SIZE, MASTER_ADDR, ...
//   dist::World& w = dist::init_world(c);                  // rendezvous (once per process)
//   w.all_reduce(grads, dist::ReduceOp::kAvg);
//   if (dist::world().is_main()) write_report();
//
// The environment is torchrun's (torch.distributed's env:// init): RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT; TORCHELASTIC_USE_AGENT_STORE=True (set by torchrun) makes every rank a
// client of the agent's store instead of rank 0 hosting it; GLOO_SOCKET_IFNAME picks the network
// interface; MC_DIST_TIMEOUT_S sets the timeout of rendezvous and collectives (seconds).
//
// Failures of a collective (a peer that died, one that hangs past the timeout) are RuntimeFailure
// naming this rank, the operation and the peer when it can be known; never a hang past the timeout.
#pragma once
#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mc::dist {

enum class ReduceOp { kSum, kAvg, kMin, kMax };

/// Where the rendezvous is and who this process is. world_size 1: no process group.
struct WorldConfig {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;  // host of rank 0's store (required when world_size > 1)
  int master_port = 0;      // its port (required when world_size > 1)
  bool agent_store = false; // TORCHELASTIC_USE_AGENT_STORE: the store exists already (torchrun), all ranks are clients
  std::string socket_ifname;  // GLOO_SOCKET_IFNAME; empty = by MASTER_ADDR (loopback) or the host name
  /// Rendezvous and collective timeout. timeout_from_env: MC_DIST_TIMEOUT_S was set (it then wins
  /// over a recipe's distributed.timeout_s).
  std::chrono::milliseconds timeout{std::chrono::seconds(kDefaultTimeoutSeconds)};
  bool timeout_from_env = false;

  static constexpr int kDefaultTimeoutSeconds = 300;

  bool distributed() const { return world_size > 1; }

  /// Reads the torchrun variables through `getenv` (default ::getenv). None of RANK / WORLD_SIZE
  /// set: one process. Throws InputError naming the variable and the fix for partial or invalid
  /// values (WORLD_SIZE without RANK, RANK >= WORLD_SIZE, a port outside 1..65535, ...).
  static WorldConfig from_env(const std::function<const char*(const char*)>& getenv = {});
};

/// A collective started by all_reduce_async; wait() finishes it (and divides for kAvg).
class PendingReduce {
 public:
  PendingReduce();
  ~PendingReduce();
  PendingReduce(PendingReduce&&) noexcept;
  PendingReduce& operator=(PendingReduce&&) noexcept;
  /// Blocks until done; throws RuntimeFailure like World's operations. No-op when already waited.
  void wait();

 private:
  friend class World;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class World {
 public:
  /// One process, no process group.
  World();
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  /// Rendezvous: rank 0 hosts a c10d::TCPStore on master_port (unless agent_store) and waits for
  /// the others; then a ProcessGroupGloo. A port in use is an InputError naming it; a store that
  /// cannot be reached within the timeout a RuntimeFailure naming the address. world_size 1: World().
  static std::unique_ptr<World> connect(const WorldConfig& config);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool distributed() const { return world_size_ > 1; }
  bool is_main() const { return rank_ == 0; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  /// In place, same tensors (shapes, dtypes, order) on every rank; contiguous CPU tensors, of any
  /// mix of dtypes (one Gloo call per dtype). kAvg = sum / world_size (floating tensors only).
  void all_reduce(std::vector<at::Tensor>& tensors, ReduceOp op);
  void all_reduce(at::Tensor& tensor, ReduceOp op);
  /// Starts an all_reduce and returns at once (Gloo runs it on its own threads); the tensors must
  /// stay alive and untouched until wait().
  PendingReduce all_reduce_async(std::vector<at::Tensor> tensors, ReduceOp op);
  /// Rank `root`'s values into every rank's tensors (any shapes and dtypes, as all_reduce).
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  void barrier();
  /// Every rank's string, indexed by rank (a small string: a recipe hash, a name).
  std::vector<std::string> all_gather(const std::string& value);
  /// all_gather(value) and an InputError when the ranks disagree, naming them and their values:
  /// "<what> differs across ranks: rank 0 has A, rank 1 has B; <fix>".
  void check_same(const std::string& what, const std::string& value, const std::string& fix);

  /// Seconds spent inside collectives (waiting included) since start; for the step timing.
  double comm_seconds() const { return comm_seconds_; }

 private:
  struct Impl;
  friend class PendingReduce;
  // Runs f (a c10d call + wait) and turns any failure into a RuntimeFailure naming the rank and `op`.
  template <typename F>
  void guarded(const char* op, F&& f);
  // Runs f (enqueueing a c10d operation) and turns c10d's argument checks into an mc::Error.
  template <typename F>
  auto enqueue(const char* op, F&& f) -> decltype(f());
  std::string failure_message(const std::string& op, const std::string& cause) const;

  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  std::chrono::milliseconds timeout_{std::chrono::seconds(WorldConfig::kDefaultTimeoutSeconds)};
  double comm_seconds_ = 0.0;
  std::unique_ptr<Impl> impl_;
};

/// The process-wide world: one process until init_world() connected one.
World& world();
/// Connects (World::connect) and makes it the process-wide world. Returns it. Called once per
/// process; a second call throws mc::Error.
World& init_world(const WorldConfig& config);
/// Replaces the process-wide world (tests; nullptr restores the one-process world).
void set_world(std::unique_ptr<World> w);

}  // namespace mc::dist
