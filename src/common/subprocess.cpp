#include "common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/error.h"

extern char** environ;

namespace mc {
namespace {

bool is_executable(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string find_in_path(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return is_executable(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = end > start ? dirs.substr(start, end - start) : ".";
    std::string candidate = dir + "/" + name;
    if (is_executable(candidate)) return candidate;
    start = end + 1;
  }
  return "";
}

Subprocess::Subprocess(const std::vector<std::string>& argv) {
  if (argv.empty()) throw RuntimeFailure("Subprocess: no command");
  int in[2], out[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
    throw RuntimeFailure("cannot create a socket for " + argv[0] + ": " + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw RuntimeFailure("cannot create a pipe for " + argv[0] + ": " + std::strerror(errno));
  }
  char err_name[] = "/tmp/mc-subprocess-XXXXXX";
  err_fd_ = ::mkostemp(err_name, O_CLOEXEC);
  if (err_fd_ >= 0) ::unlink(err_name);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (err_fd_ >= 0) posix_spawn_file_actions_adddup2(&fa, err_fd_, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  in_fd_ = in[1];
  out_fd_ = out[0];
  if (rc != 0) {
    close_fd(in_fd_);
    close_fd(out_fd_);
    close_fd(err_fd_);
    throw RuntimeFailure("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  pid_ = pid;
}

Subprocess::~Subprocess() {
  close_fd(in_fd_);
  close_fd(out_fd_);
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
  close_fd(err_fd_);
}

bool Subprocess::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = ::send(in_fd_, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool Subprocess::read(void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t k = ::read(out_fd_, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

std::string Subprocess::read_all() {
  std::string s;
  char buf[4096];
  for (;;) {
    ssize_t k = ::read(out_fd_, buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return s;
    s.append(buf, static_cast<size_t>(k));
  }
}

void Subprocess::close_stdin() { close_fd(in_fd_); }

int Subprocess::wait() {
  if (status_ >= 0) return status_;
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0)
    if (errno != EINTR) return status_ = 127;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return status_;
}

std::string Subprocess::stderr_text(size_t max_bytes) const {
  if (err_fd_ < 0) return "";
  const off_t size = ::lseek(err_fd_, 0, SEEK_END);
  if (size <= 0) return "";
  const off_t from = size > static_cast<off_t>(max_bytes) ? size - static_cast<off_t>(max_bytes) : 0;
  std::string s(static_cast<size_t>(size - from), '\0');
  const ssize_t k = ::pread(err_fd_, s.data(), s.size(), from);
  s.resize(k > 0 ? static_cast<size_t>(k) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace mc
