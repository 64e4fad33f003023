#include "distributed/launcher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "common/error.h"

extern char** environ;

namespace mc::dist {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP};
constexpr size_t kMaxLine = 64 * 1024;  // a longer line is passed on in pieces of this size

std::string errno_text() { return std::strerror(errno); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

// Binding `addr` at `port` the way a listening server does (SO_REUSEADDR, so sockets of a finished
// run in TIME_WAIT do not count): 0, or the errno of the failure. EAFNOSUPPORT counts as success
// (a node without IPv6).
int try_bind(int family, int port) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno == EAFNOSUPPORT ? 0 : errno;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (family == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);  // IPv4 is checked on its own
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err == EADDRNOTAVAIL && family == AF_INET6 ? 0 : err;
}

// Signals the launcher receives through a signalfd while it runs; the previous mask and SIGCHLD
// disposition come back at destruction.
class SignalGuard {
 public:
  SignalGuard() {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigemptyset(&dfl.sa_mask);
    ::sigaction(SIGCHLD, &dfl, &old_chld_);  // an ignored SIGCHLD would reap the workers for us
    ::sigemptyset(&set_);
    for (int s : kForwarded) ::sigaddset(&set_, s);
    ::sigaddset(&set_, SIGCHLD);
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_mask_);
    fd_ = ::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd_ < 0) {
      const std::string why = errno_text();
      restore();
      throw RuntimeFailure("launch: cannot create a signalfd: " + why);
    }
  }
  ~SignalGuard() {
    close_fd(fd_);
    restore();
  }
  int fd() const { return fd_; }
  /// The next pending signal, 0 when none.
  int next() {
    signalfd_siginfo si{};
    const ssize_t k = ::read(fd_, &si, sizeof si);
    return k == static_cast<ssize_t>(sizeof si) ? static_cast<int>(si.ssi_signo) : 0;
  }

 private:
  void restore() {
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    ::sigaction(SIGCHLD, &old_chld_, nullptr);
  }
  sigset_t set_{}, old_mask_{};
  struct sigaction old_chld_ {};
  int fd_ = -1;
};

struct Worker {
  WorkerExit exit;
  bool running = false;
  int out_fd = -1;      // read end of its stdout+stderr (not for global rank 0)
  std::string pending;  // output not yet ended by '\n'
};

// Starts one worker: fork, then in the child only async-signal-safe calls up to execve. A
// close-on-exec pipe tells the parent whether execve failed (and its errno).
int spawn(const std::string& program, const std::vector<char*>& argv, const std::vector<char*>& envp, int out_fd,
          int null_fd, pid_t parent) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw RuntimeFailure("launch: cannot create a pipe: " + errno_text());
  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string why = errno_text();
    ::close(report[0]);
    ::close(report[1]);
    throw RuntimeFailure("launch: cannot start a worker (fork): " + why);
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the launcher died before prctl
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigemptyset(&dfl.sa_mask);
    for (int s : kForwarded) ::sigaction(s, &dfl, nullptr);
    ::sigaction(SIGCHLD, &dfl, nullptr);
    ::sigaction(SIGPIPE, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (out_fd >= 0) {
      ::dup2(null_fd, 0);
      ::dup2(out_fd, 1);
      ::dup2(out_fd, 2);
    }
    ::execve(program.c_str(), argv.data(), envp.data());
    const int err = errno;
    ssize_t ignored = ::write(report[1], &err, sizeof err);
    (void)ignored;
    ::_exit(127);
  }
  ::close(report[1]);
  int err = 0;
  ssize_t k;
  do k = ::read(report[0], &err, sizeof err);
  while (k < 0 && errno == EINTR);
  ::close(report[0]);
  if (k == static_cast<ssize_t>(sizeof err)) {
    ::waitpid(pid, nullptr, 0);
    throw RuntimeFailure("launch: cannot start " + program + ": " + std::strerror(err));
  }
  return pid;
}

class Supervisor {
 public:
  Supervisor(const LaunchOptions& o, int port) : o_(o), port_(port) {}
  ~Supervisor() {
    for (Worker& w : workers_) {
      if (w.running) {  // only after an exception: nothing may outlive the launcher
        ::kill(w.exit.pid, SIGKILL);
        ::waitpid(w.exit.pid, nullptr, 0);
      }
      close_fd(w.out_fd);
    }
  }

  LaunchResult run() {
    SignalGuard signals;
    start_all();
    while (any_running() || any_open()) {
      std::vector<pollfd> fds{{signals.fd(), POLLIN, 0}};
      for (Worker& w : workers_)
        if (w.out_fd >= 0) fds.push_back({w.out_fd, POLLIN, 0});
      const int timeout = poll_timeout();
      const int n = ::poll(fds.data(), fds.size(), timeout);
      if (n < 0 && errno != EINTR) throw RuntimeFailure("launch: poll failed: " + errno_text());
      if (n > 0 && (fds[0].revents & POLLIN))
        for (int s; (s = signals.next()) != 0;) on_signal(s);
      reap();
      for (Worker& w : workers_)
        if (w.out_fd >= 0) relay(w);
      if (kill_at_ && Clock::now() >= *kill_at_) kill_remaining();
      if (!any_running() && any_open()) {
        if (!drain_until_) drain_until_ = Clock::now() + std::chrono::seconds(1);
        if (Clock::now() >= *drain_until_)  // a grandchild still holds the pipe: stop relaying
          for (Worker& w : workers_) finish_output(w);
      }
    }
    LaunchResult r;
    r.master_port = port_;
    for (const Worker& w : workers_) r.workers.push_back(w.exit);
    r.first_failure = first_failure_;
    r.interrupted_by = interrupted_by_;
    return r;
  }

 private:
  void start_all() {
    std::vector<std::string> base;
    for (char** e = environ; e && *e; ++e) base.emplace_back(*e);
    std::vector<std::string> arg_strings{o_.program};
    arg_strings.insert(arg_strings.end(), o_.args.begin(), o_.args.end());
    std::vector<char*> argv;
    for (std::string& a : arg_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    const pid_t self = ::getpid();
    workers_.resize(static_cast<size_t>(o_.nproc));
    for (int i = 0; i < o_.nproc; ++i) {
      Worker& w = workers_[static_cast<size_t>(i)];
      w.exit.rank = o_.node_rank * o_.nproc + i;
      std::vector<std::string> env = worker_environment(o_, i, port_, base);
      std::vector<char*> envp;
      for (std::string& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      int child_out = -1;
      if (w.exit.rank != 0) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) {
          close_fd(null_fd);
          throw RuntimeFailure("launch: cannot create a pipe: " + errno_text());
        }
        w.out_fd = p[0];
        child_out = p[1];
        ::fcntl(w.out_fd, F_SETFL, O_NONBLOCK);
      }
      try {
        w.exit.pid = spawn(o_.program, argv, envp, child_out, null_fd, self);
      } catch (...) {
        if (child_out >= 0) ::close(child_out);
        close_fd(null_fd);
        throw;
      }
      if (child_out >= 0) ::close(child_out);
      w.running = true;
    }
    close_fd(null_fd);
  }

  bool any_running() const {
    for (const Worker& w : workers_)
      if (w.running) return true;
    return false;
  }
  bool any_open() const {
    for (const Worker& w : workers_)
      if (w.out_fd >= 0) return true;
    return false;
  }

  int poll_timeout() const {
    auto until = [](std::optional<Clock::time_point> t) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*t - Clock::now()).count();
      return static_cast<int>(std::max<long long>(0, ms) + 1);
    };
    int t = -1;
    if (kill_at_) t = until(kill_at_);
    if (drain_until_) t = t < 0 ? until(drain_until_) : std::min(t, until(drain_until_));
    return t;
  }

  void signal_running(int sig) {
    for (Worker& w : workers_)
      if (w.running) {
        ::kill(w.exit.pid, sig);
        w.exit.stopped_by_launcher = true;
      }
  }

  void begin_stop(int sig) {
    signal_running(sig);
    if (!kill_at_) kill_at_ = Clock::now() + o_.grace;
  }

  void on_signal(int sig) {
    if (sig == SIGCHLD) return;  // reap() looks at every worker after each wake-up
    if (!interrupted_by_ && !first_failure_) interrupted_by_ = sig;
    begin_stop(sig);
  }

  void kill_remaining() {
    for (Worker& w : workers_)
      if (w.running) {
        ::kill(w.exit.pid, SIGKILL);
        w.exit.killed_after_grace = true;
      }
    kill_at_.reset();
  }

  void reap() {
    for (Worker& w : workers_) {
      if (!w.running) continue;
      int st = 0;
      const pid_t p = ::waitpid(w.exit.pid, &st, WNOHANG);
      if (p == 0 || (p < 0 && errno == EINTR)) continue;
      w.running = false;
      if (p < 0) {
        w.exit.exit_code = 127;  // cannot happen for our own child; treat it as lost
      } else if (WIFSIGNALED(st)) {
        w.exit.signal = WTERMSIG(st);
        w.exit.exit_code = 128 + w.exit.signal;
      } else {
        w.exit.exit_code = WEXITSTATUS(st);
      }
      if (!w.exit.failed()) continue;
      if (!first_failure_ && !interrupted_by_ && !w.exit.stopped_by_launcher) {
        first_failure_ = w.exit;
        begin_stop(SIGTERM);
      }
    }
  }

  // Passes complete lines of `w`'s output on; at end of file the rest, then closes the pipe.
  void relay(Worker& w) {
    char buf[16384];
    for (;;) {
      const ssize_t k = ::read(w.out_fd, buf, sizeof buf);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return;  // EAGAIN: nothing more now
      if (k == 0) {
        finish_output(w);
        return;
      }
      w.pending.append(buf, static_cast<size_t>(k));
      size_t start = 0;
      for (size_t nl; (nl = w.pending.find('\n', start)) != std::string::npos; start = nl + 1)
        emit(w, w.pending.substr(start, nl - start));
      w.pending.erase(0, start);
      while (w.pending.size() >= kMaxLine) {
        emit(w, w.pending.substr(0, kMaxLine));
        w.pending.erase(0, kMaxLine);
      }
    }
  }

  void finish_output(Worker& w) {
    if (w.out_fd < 0) return;
    if (!w.pending.empty()) emit(w, w.pending);
    w.pending.clear();
    close_fd(w.out_fd);
  }

  void emit(const Worker& w, const std::string& line) {
    if (o_.on_output) o_.on_output(w.exit.rank, line);
  }

  const LaunchOptions& o_;
  const int port_;
  std::vector<Worker> workers_;
  std::optional<WorkerExit> first_failure_;
  int interrupted_by_ = 0;
  std::optional<Clock::time_point> kill_at_, drain_until_;
};

}  // namespace

int LaunchResult::exit_code() const {
  if (first_failure) return first_failure->exit_code;
  if (interrupted_by) return 128 + interrupted_by;
  return 0;
}

void validate(const LaunchOptions& o) {
  if (o.nproc < 1)
    throw InputError("launch: --nproc " + std::to_string(o.nproc) +
                     ": the number of workers on this node must be at least 1 (e.g. --nproc 2)");
  if (o.nnodes < 1)
    throw InputError("launch: --nnodes " + std::to_string(o.nnodes) + ": the number of nodes must be at least 1");
  if (o.node_rank < 0 || o.node_rank >= o.nnodes)
    throw InputError("launch: --node-rank " + std::to_string(o.node_rank) + " with --nnodes " +
                     std::to_string(o.nnodes) + ": the node rank must be in 0.." + std::to_string(o.nnodes - 1) +
                     " (node 0 hosts rank 0 and the rendezvous)");
  if (o.master_port < 0 || o.master_port > 65535)
    throw InputError("launch: --master-port " + std::to_string(o.master_port) +
                     ": a TCP port is 1..65535 (0 picks a free one on a single node)");
  if (o.master_port == 0 && o.nnodes > 1)
    throw InputError("launch: --master-port 0 picks a port only this node knows; with --nnodes " +
                     std::to_string(o.nnodes) + " give every node the same port, e.g. --master-port 29500");
  if (o.master_addr.empty())
    throw InputError("launch: --master-addr is empty: give the address of node 0 (127.0.0.1 on a single node)");
  if (o.program.empty()) throw InputError("launch: no worker program");
  if (o.threads_per_proc < 0)
    throw InputError("launch: threads per process " + std::to_string(o.threads_per_proc) + " must be >= 0");
}

int port_error(int port) {
  const int e = try_bind(AF_INET, port);
  return e != 0 ? e : try_bind(AF_INET6, port);
}

int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw RuntimeFailure("launch: cannot open a socket to pick a port: " + errno_text());
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw RuntimeFailure("launch: cannot pick a free port: " + why);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::vector<std::string> worker_environment(const LaunchOptions& o, int local_rank, int master_port,
                                            const std::vector<std::string>& base) {
  std::map<std::string, std::string> env;  // name -> "NAME=value"; later entries win
  std::vector<std::string> order;
  auto set = [&](const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('='));
    if (env.emplace(name, entry).second)
      order.push_back(name);
    else
      env[name] = entry;
  };
  for (const std::string& e : base) set(e);
  if (!env.count("OMP_NUM_THREADS")) {
    const int t = o.threads_per_proc > 0 ? o.threads_per_proc : std::max(1, cpu_count() / o.nproc);
    set("OMP_NUM_THREADS=" + std::to_string(t));
  }
  set("RANK=" + std::to_string(o.node_rank * o.nproc + local_rank));
  set("LOCAL_RANK=" + std::to_string(local_rank));
  set("WORLD_SIZE=" + std::to_string(o.nnodes * o.nproc));
  set("LOCAL_WORLD_SIZE=" + std::to_string(o.nproc));
  set("GROUP_RANK=" + std::to_string(o.node_rank));
  set("MASTER_ADDR=" + o.master_addr);
  set("MASTER_PORT=" + std::to_string(master_port));
  std::vector<std::string> out;
  for (const std::string& name : order) out.push_back(env[name]);
  return out;
}

LaunchResult launch(const LaunchOptions& o) {
  validate(o);
  int port = o.master_port;
  if (port == 0) {
    port = pick_free_port();
  } else if (o.node_rank == 0) {
    const int err = port_error(port);
    if (err == EADDRINUSE)
      throw InputError("launch: port " + std::to_string(port) +
                       " is already in use on this node (another run's rendezvous, or another program): "
                       "choose another with --master-port P, or --master-port 0 for a free one");
    if (err != 0)
      throw InputError("launch: cannot listen on port " + std::to_string(port) + " (" + std::strerror(err) +
                       "): choose another with --master-port P, or --master-port 0 for a free one");
  }
  Supervisor s(o, port);
  return s.run();
}

}  // namespace mc::dist
