// dist::World: the torchrun environment, the collectives on loopback (ranks as threads), the errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "common/error.h"
#include "distributed/dist_test_util.h"
#include "distributed/world.h"

namespace mc {
namespace {

using dist::ReduceOp;
using dist::World;
using dist::WorldConfig;

WorldConfig from(const std::map<std::string, std::string>& env) {
  return WorldConfig::from_env([&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::string input_error(const std::map<std::string, std::string>& env) {
  try {
    from(env);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST(WorldConfig, NoVariablesIsOneProcess) {
  WorldConfig c = from({});
  EXPECT_EQ(c.world_size, 1);
  EXPECT_EQ(c.rank, 0);
  EXPECT_FALSE(c.distributed());
  EXPECT_EQ(c.timeout, std::chrono::seconds(WorldConfig::kDefaultTimeoutSeconds));
  EXPECT_FALSE(c.timeout_from_env);
}

TEST(WorldConfig, TorchrunVariables) {
  WorldConfig c = from({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.2"},
                        {"MASTER_PORT", "29511"}, {"MC_DIST_TIMEOUT_S", "7"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
  EXPECT_EQ(c.rank, 3);
  EXPECT_EQ(c.world_size, 4);
  EXPECT_EQ(c.local_rank, 1);
  EXPECT_EQ(c.master_addr, "10.0.0.2");
  EXPECT_EQ(c.master_port, 29511);
  EXPECT_EQ(c.timeout, std::chrono::seconds(7));
  EXPECT_TRUE(c.timeout_from_env);
  EXPECT_TRUE(c.agent_store);
  EXPECT_TRUE(c.distributed());
  // WORLD_SIZE=1 needs no rendezvous address.
  EXPECT_FALSE(from({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).distributed());
}

TEST(WorldConfig, BadEnvironmentNamesTheVariable) {
  EXPECT_NE(input_error({{"WORLD_SIZE", "2"}}).find("WORLD_SIZE=2 is set but RANK is not"), std::string::npos);
  EXPECT_NE(input_error({{"RANK", "1"}}).find("RANK=1 is set but WORLD_SIZE is not"), std::string::npos);
  EXPECT_NE(input_error({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK=2 is not below WORLD_SIZE=2"), std::string::npos);
  EXPECT_NE(input_error({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK='x'"), std::string::npos);
  EXPECT_NE(input_error({{"RANK", "0"}, {"WORLD_SIZE", "0"}}).find("WORLD_SIZE='0'"), std::string::npos);
  EXPECT_NE(input_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}}).find("MASTER_ADDR is not set"),
            std::string::npos);
  EXPECT_NE(input_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}}).find("MASTER_PORT is not set"),
            std::string::npos);
  EXPECT_NE(input_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
                .find("MASTER_PORT='70000' is not a TCP port"),
            std::string::npos);
  EXPECT_NE(input_error({{"MC_DIST_TIMEOUT_S", "0"}}).find("MC_DIST_TIMEOUT_S='0'"), std::string::npos);
}

TEST(World, OneProcessOperationsAreIdentity) {
  World w;
  EXPECT_FALSE(w.distributed());
  std::vector<at::Tensor> t{at::arange(5, at::kFloat)};
  w.all_reduce(t, ReduceOp::kAvg);
  EXPECT_TRUE(t[0].equal(at::arange(5, at::kFloat)));
  EXPECT_EQ(w.all_gather("abc"), std::vector<std::string>{"abc"});
  w.barrier();
  w.check_same("recipe", "x", "fix");
}

// Rank r holds base + r; the reduction of every op against the values computed here.
TEST(World, AllReduceOpsOnThreeRanks) {
  const int n = 3;
  const at::Tensor base = at::randn({7, 5}, at::TensorOptions().dtype(at::kDouble));
  auto value = [&](int r) { return base * (r + 1) - r; };
  at::Tensor sum = value(0) + value(1) + value(2);
  at::Tensor mn = at::minimum(at::minimum(value(0), value(1)), value(2));
  at::Tensor mx = at::maximum(at::maximum(value(0), value(1)), value(2));
  test::run_ranks(n, [&](int r, World& w) {
    EXPECT_EQ(w.rank(), r);
    EXPECT_EQ(w.world_size(), n);
    // A list of several shapes and dtypes: each reduced on its own (Gloo's own list semantics would
    // sum the list's tensors together).
    std::vector<at::Tensor> s{value(r).clone(), at::full({3}, r, at::kLong), value(r).sum({1}), at::full({2}, 5, at::kLong)};
    w.all_reduce(s, ReduceOp::kSum);
    EXPECT_TRUE(at::allclose(s[0], sum, 0, 1e-12));
    EXPECT_TRUE(s[1].equal(at::full({3}, 0 + 1 + 2, at::kLong)));
    EXPECT_TRUE(at::allclose(s[2], sum.sum({1}), 0, 1e-12));
    EXPECT_TRUE(s[3].equal(at::full({2}, 15, at::kLong)));
    at::Tensor a = value(r).to(at::kFloat);
    w.all_reduce(a, ReduceOp::kAvg);
    EXPECT_TRUE(at::allclose(a, (sum / n).to(at::kFloat), 1e-6, 1e-6));
    at::Tensor lo = value(r).clone(), hi = value(r).clone();
    w.all_reduce(lo, ReduceOp::kMin);
    w.all_reduce(hi, ReduceOp::kMax);
    EXPECT_TRUE(lo.equal(mn));
    EXPECT_TRUE(hi.equal(mx));
    // Asynchronous: two in flight at once, finished in reverse order.
    at::Tensor x = at::full({4}, r + 1.0), y = at::full({2}, 10.0 * r);
    dist::PendingReduce px = w.all_reduce_async({x}, ReduceOp::kSum);
    dist::PendingReduce py = w.all_reduce_async({y}, ReduceOp::kAvg);
    py.wait();
    px.wait();
    EXPECT_TRUE(x.equal(at::full({4}, 6.0)));
    EXPECT_TRUE(y.equal(at::full({2}, 10.0)));
  });
}

TEST(World, BroadcastAllGatherAndCheckSame) {
  test::run_ranks(2, [&](int r, World& w) {
    std::vector<at::Tensor> t{at::full({3}, 5.0 + r), at::full({1}, 1.0 * r)};
    w.broadcast(t, /*root=*/1);
    EXPECT_TRUE(t[0].equal(at::full({3}, 6.0)));
    EXPECT_EQ(t[1].item<double>(), 1.0);
    std::vector<at::Tensor> mixed{at::full({2, 2}, 1.0 * r), at::full({1}, 7 * r, at::kLong), at::full({5}, 2.0 * r)};
    w.broadcast(mixed, 1);
    EXPECT_TRUE(mixed[0].equal(at::full({2, 2}, 1.0)));
    EXPECT_TRUE(mixed[1].equal(at::full({1}, 7, at::kLong)));
    EXPECT_TRUE(mixed[2].equal(at::full({5}, 2.0)));
    // A tensor c10d refuses (not contiguous CPU) is the caller's bug, not a peer's: said so.
    at::Tensor nc = at::zeros({4, 4}).t();
    try {
      w.all_reduce(nc, ReduceOp::kSum);
      ADD_FAILURE() << "no error";
    } catch (const RuntimeFailure& e) {
      ADD_FAILURE() << "blamed a peer: " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("contiguous"), std::string::npos) << e.what();
    }
    // Strings of different lengths (Gloo gathers equal sizes: padded underneath).
    std::vector<std::string> all = w.all_gather(r == 0 ? "a" : "longer string");
    EXPECT_EQ(all, (std::vector<std::string>{"a", "longer string"}));
    w.check_same("the recipe hash", "same", "fix");
    try {
      w.check_same("the recipe hash", r == 0 ? "h0" : "h1", "start every rank with the same recipe");
      ADD_FAILURE() << "rank " << r << ": no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("the recipe hash differs across ranks: rank 0 has h0, rank 1 has h1; start "
                                           "every rank with the same recipe"),
                std::string::npos)
          << e.what();
      EXPECT_EQ(e.exit_code(), 2);
    }
    w.barrier();
  });
}

TEST(World, PortInUseIsAnInputErrorNamingThePort) {
  // Rank 0 hosts the store; a listening socket on the port first.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  try {
    World::connect(test::loopback_config(0, 2, port, 5));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_PORT=" + std::to_string(port) + " is in use"), std::string::npos)
        << e.what();
  }
  ::close(fd);
}

TEST(World, UnreachableStoreIsARuntimeFailureNamingTheAddress) {
  const int port = test::free_port();  // nothing listens there
  const auto t0 = std::chrono::steady_clock::now();
  try {
    World::connect(test::loopback_config(1, 2, port, 2));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    ADD_FAILURE() << "InputError: " << e.what();
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach rank 0's rendezvous store at 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << e.what();
  }
  // The timeout (2 s) bounds it; 15 s of margin for a loaded machine.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 17.0);
}

// A peer that never joins the collective: the other rank fails within the timeout, naming it.
TEST(World, HungPeerTimesOutNamingIt) {
  const int timeout_s = 3;
  test::run_ranks(
      2,
      [&](int r, World& w) {
        w.barrier();
        if (r == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(timeout_s + 3));  // hangs past rank 0's timeout
          return;
        }
        const auto t0 = std::chrono::steady_clock::now();
        at::Tensor t = at::ones({4});
        try {
          w.all_reduce(t, ReduceOp::kSum);
          ADD_FAILURE() << "no error";
        } catch (const RuntimeFailure& e) {
          const std::string m = e.what();
          EXPECT_NE(m.find("rank 0 of 2: all_reduce failed: rank 1 (the other process) died or stopped responding"),
                    std::string::npos)
              << m;
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_GE(s, timeout_s - 0.5);
        EXPECT_LT(s, timeout_s + 10.0);  // the timeout plus a margin for a loaded 2-core machine
      },
      timeout_s);
}

// A peer whose process group goes away (its sockets close, as when the process dies).
TEST(World, VanishedPeerFailsNamingIt) {
  test::run_ranks(
      2,
      [&](int r, World& w) {
        w.barrier();
        if (r == 1) return;  // run_ranks destroys rank 1's World: its connections close
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        at::Tensor t = at::ones({4});
        try {
          for (int i = 0; i < 3; ++i) w.all_reduce(t, ReduceOp::kSum);
          ADD_FAILURE() << "no error";
        } catch (const RuntimeFailure& e) {
          EXPECT_NE(std::string(e.what()).find("rank 1 (the other process) died or stopped responding"), std::string::npos)
              << e.what();
        }
      },
      5);
}

}  // namespace
}  // namespace mc
