#include "distributed/world.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "common/error.h"

namespace mc::dist {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
    default: return c10d::ReduceOp::SUM;  // kAvg: Gloo has no AVG, the sum is divided after
  }
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

std::shared_ptr<::gloo::transport::Device> gloo_device(const WorldConfig& c) {
  if (!c.socket_ifname.empty()) return c10d::ProcessGroupGloo::createDeviceForInterface(c.socket_ifname);
  if (is_loopback(c.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Gloo reduces a list of tensors as if they were one tensor on several devices (same size, summed
// together), so a list is reduced as one flat buffer per dtype (first-seen order, the same on every
// rank as the tensors are); a group of one tensor is reduced in place.
struct FlatGroup {
  std::vector<at::Tensor> members;
  at::Tensor flat;
};

std::vector<FlatGroup> flatten_by_dtype(const std::vector<at::Tensor>& tensors) {
  std::vector<FlatGroup> groups;
  for (const auto& t : tensors) {
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const FlatGroup& f) { return f.members[0].scalar_type() == t.scalar_type(); });
    if (g == groups.end()) groups.push_back({{t}, {}});
    else g->members.push_back(t);
  }
  for (auto& g : groups) {
    if (g.members.size() == 1) {
      g.flat = g.members[0];
      continue;
    }
    std::vector<at::Tensor> parts;
    for (auto& m : g.members) parts.push_back(m.reshape({-1}));
    g.flat = at::cat(parts);
  }
  return groups;
}

void unflatten(FlatGroup& g) {
  if (g.members.size() == 1) return;
  int64_t at = 0;
  for (auto& m : g.members) {
    m.copy_(g.flat.narrow(0, at, m.numel()).view(m.sizes()));
    at += m.numel();
  }
}

std::string endpoint(const WorldConfig& c) { return c.master_addr + ":" + std::to_string(c.master_port); }
std::string seconds_str(std::chrono::milliseconds t) { return std::to_string(t.count() / 1000) + " s"; }

}  // namespace

struct World::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

struct PendingReduce::Impl {
  World* world = nullptr;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;  // one per group
  std::vector<FlatGroup> groups;
  bool average = false;
  Clock::time_point started;
};

PendingReduce::PendingReduce() = default;
PendingReduce::~PendingReduce() = default;
PendingReduce::PendingReduce(PendingReduce&&) noexcept = default;
PendingReduce& PendingReduce::operator=(PendingReduce&&) noexcept = default;

void PendingReduce::wait() {
  if (!impl_) return;
  std::unique_ptr<Impl> p = std::move(impl_);
  World& w = *p->world;
  const auto t0 = Clock::now();
  w.guarded("all_reduce", [&] {
    for (auto& work : p->works) work->wait();
  });
  for (auto& g : p->groups) {
    if (p->average) g.flat.div_(static_cast<double>(w.world_size()));
    unflatten(g);
  }
  w.comm_seconds_ += seconds_since(t0);
}

World::World() = default;
World::~World() = default;

std::string World::failure_message(const std::string& op, const std::string& cause) const {
  std::string peer;
  if (world_size_ == 2)
    peer = "rank " + std::to_string(1 - rank_) + " (the other process) died or stopped responding";
  else
    peer = "one of the other " + std::to_string(world_size_ - 1) + " ranks died or stopped responding";
  return "rank " + std::to_string(rank_) + " of " + std::to_string(world_size_) + ": " + op + " failed: " + peer +
         " (timeout " + seconds_str(timeout_) + "; c10d/Gloo: " + cause +
         "); its own log (log.rank<k>.txt or the launcher's output) says why; `--resume` continues from the last "
         "finished stage";
}

template <typename F>
void World::guarded(const char* op, F&& f) {
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw RuntimeFailure(failure_message(op, first_line(e.what())));
  }
}

// c10d checks its arguments when an operation is enqueued: a failure there is a bug of the caller
// (mismatched dtypes, a non-CPU tensor), not a peer's; it says so instead of blaming a peer.
template <typename F>
auto World::enqueue(const char* op, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(rank_) + ": dist::" + op + " refused its arguments: " + first_line(e.what()));
  }
}

std::unique_ptr<World> World::connect(const WorldConfig& c) {
  auto w = std::make_unique<World>();
  w->timeout_ = c.timeout;
  if (!c.distributed()) {
    w->rank_ = c.rank;
    w->local_rank_ = c.local_rank;
    return w;
  }
  w->rank_ = c.rank;
  w->world_size_ = c.world_size;
  w->local_rank_ = c.local_rank;
  w->impl_ = std::make_unique<Impl>();
  const std::string who = "rank " + std::to_string(c.rank) + " of " + std::to_string(c.world_size);

  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(c.master_port);
  so.isServer = c.rank == 0 && !c.agent_store;
  so.numWorkers = static_cast<std::size_t>(c.world_size);
  so.waitWorkers = !c.agent_store;
  so.timeout = c.timeout;
  try {
    w->impl_->store = c10::make_intrusive<c10d::TCPStore>(c.master_addr, so);
  } catch (const std::exception& e) {
    const std::string cause = first_line(e.what());
    if (so.isServer && (cause.find("in use") != std::string::npos || cause.find("errno: 98") != std::string::npos))
      throw InputError(who + ": MASTER_PORT=" + std::to_string(c.master_port) +
                       " is in use on this machine, so rank 0 cannot host the rendezvous there: pick a free port "
                       "(the same MASTER_PORT for every rank) or stop the process that holds it (" + cause + ")");
    if (so.isServer)
      throw RuntimeFailure(who + ": not every rank reached the rendezvous at " + endpoint(c) + " within " +
                           seconds_str(c.timeout) + ": start all " + std::to_string(c.world_size) +
                           " processes with the same MASTER_ADDR / MASTER_PORT (c10d: " + cause + ")");
    throw RuntimeFailure(who + ": cannot reach rank 0's rendezvous store at " + endpoint(c) + " within " +
                         seconds_str(c.timeout) + ": start rank 0, and check MASTER_ADDR / MASTER_PORT (c10d: " +
                         cause + ")");
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(c.timeout);
    opts->devices.push_back(gloo_device(c));
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("mc_pg", w->impl_->store);
    w->impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, c.rank, c.world_size, opts);
  } catch (const std::exception& e) {
    throw RuntimeFailure(who + ": setting up the Gloo process group failed (rendezvous at " + endpoint(c) +
                         ", timeout " + seconds_str(c.timeout) + "): " + first_line(e.what()));
  }
  return w;
}

void World::all_reduce(std::vector<at::Tensor>& tensors, ReduceOp op) {
  if (!distributed() || tensors.empty()) return;
  PendingReduce p = all_reduce_async(tensors, op);
  p.wait();
}

void World::all_reduce(at::Tensor& tensor, ReduceOp op) {
  std::vector<at::Tensor> v{tensor};
  all_reduce(v, op);
}

PendingReduce World::all_reduce_async(std::vector<at::Tensor> tensors, ReduceOp op) {
  PendingReduce p;
  if (!distributed() || tensors.empty()) return p;
  for (auto& t : tensors)
    if (!t.is_contiguous()) throw Error("dist::all_reduce: tensors must be contiguous");
  p.impl_ = std::make_unique<PendingReduce::Impl>();
  p.impl_->world = this;
  p.impl_->groups = flatten_by_dtype(tensors);
  p.impl_->average = op == ReduceOp::kAvg;
  p.impl_->started = Clock::now();
  c10d::AllreduceOptions o;
  o.reduceOp = to_c10d(op);
  o.timeout = timeout_;
  for (auto& g : p.impl_->groups) {
    std::vector<at::Tensor> one{g.flat};
    p.impl_->works.push_back(enqueue("all_reduce", [&] { return impl_->pg->allreduce(one, o); }));
  }
  return p;
}

void World::broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (!distributed() || tensors.empty()) return;
  const auto t0 = Clock::now();
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = timeout_;
  for (auto& g : flatten_by_dtype(tensors)) {
    std::vector<at::Tensor> one{g.flat};
    auto work = enqueue("broadcast", [&] { return impl_->pg->broadcast(one, o); });
    guarded("broadcast", [&] { work->wait(); });
    unflatten(g);
  }
  comm_seconds_ += seconds_since(t0);
}

void World::barrier() {
  if (!distributed()) return;
  const auto t0 = Clock::now();
  c10d::BarrierOptions o;
  o.timeout = timeout_;
  auto work = enqueue("barrier", [&] { return impl_->pg->barrier(o); });
  guarded("barrier", [&] { work->wait(); });
  comm_seconds_ += seconds_since(t0);
}

std::vector<std::string> World::all_gather(const std::string& value) {
  if (!distributed()) return {value};
  const auto t0 = Clock::now();
  const auto n = static_cast<size_t>(world_size_);
  c10d::AllgatherOptions o;
  o.timeout = timeout_;
  // Gloo gathers equal-sized tensors: the lengths first, then the bytes padded to the longest.
  std::vector<at::Tensor> len_in{at::full({1}, static_cast<int64_t>(value.size()), at::kLong)};
  std::vector<std::vector<at::Tensor>> len_out(1);
  for (size_t r = 0; r < n; ++r) len_out[0].push_back(at::zeros({1}, at::kLong));
  auto lw = enqueue("all_gather", [&] { return impl_->pg->allgather(len_out, len_in, o); });
  guarded("all_gather", [&] { lw->wait(); });
  int64_t longest = 1;
  for (auto& t : len_out[0]) longest = std::max(longest, t.item<int64_t>());
  at::Tensor mine = at::zeros({longest}, at::kByte);
  std::copy(value.begin(), value.end(), mine.data_ptr<uint8_t>());
  std::vector<at::Tensor> in{mine};
  std::vector<std::vector<at::Tensor>> out(1);
  for (size_t r = 0; r < n; ++r) out[0].push_back(at::zeros({longest}, at::kByte));
  auto bw = enqueue("all_gather", [&] { return impl_->pg->allgather(out, in, o); });
  guarded("all_gather", [&] { bw->wait(); });
  std::vector<std::string> result;
  for (size_t r = 0; r < n; ++r) {
    const auto* p = out[0][r].data_ptr<uint8_t>();
    result.emplace_back(p, p + len_out[0][r].item<int64_t>());
  }
  comm_seconds_ += seconds_since(t0);
  return result;
}

void World::check_same(const std::string& what, const std::string& value, const std::string& fix) {
  std::vector<std::string> all = all_gather(value);
  if (std::all_of(all.begin(), all.end(), [&](const std::string& s) { return s == all[0]; })) return;
  std::string list;
  for (size_t r = 0; r < all.size(); ++r) list += (r ? ", rank " : "rank ") + std::to_string(r) + " has " + all[r];
  throw InputError(what + " differs across ranks: " + list + "; " + fix);
}

namespace {
std::mutex g_world_mu;
std::unique_ptr<World>& world_slot() {
  static std::unique_ptr<World> w = std::make_unique<World>();
  return w;
}
bool g_initialised = false;
}  // namespace

World& world() {
  std::lock_guard<std::mutex> lock(g_world_mu);
  return *world_slot();
}

World& init_world(const WorldConfig& config) {
  {
    std::lock_guard<std::mutex> lock(g_world_mu);
    if (g_initialised) throw Error("dist::init_world called twice in one process");
  }
  auto w = World::connect(config);
  std::lock_guard<std::mutex> lock(g_world_mu);
  g_initialised = true;
  world_slot() = std::move(w);
  return *world_slot();
}

void set_world(std::unique_ptr<World> w) {
  std::lock_guard<std::mutex> lock(g_world_mu);
  world_slot() = w ? std::move(w) : std::make_unique<World>();
}

}  // namespace mc::dist
