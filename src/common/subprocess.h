// A child process driven through its stdin and stdout (stderr kept in a temporary file), for tools
// the product talks to by a protocol (ONNX Runtime through node). POSIX only.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace mc {

/// The absolute path of `name` found in $PATH, or "" when none is executable. A name holding a
/// '/' is returned as is when it is an executable file, else "".
std::string find_in_path(const std::string& name);

class Subprocess {
 public:
  /// Starts argv[0] (a path) with argv. Its stdin is a socket (writes to a child that has exited
  /// fail instead of raising SIGPIPE), its stdout a pipe. Throws RuntimeFailure when it cannot start.
  explicit Subprocess(const std::vector<std::string>& argv);
  /// Closes the pipes; a child still running is killed (SIGKILL) and reaped.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  /// Writes all `n` bytes to the child's stdin; false when the child stopped reading (exited).
  bool write(const void* data, size_t n);
  /// Reads exactly `n` bytes of the child's stdout; false at end of file before `n` bytes.
  bool read(void* data, size_t n);
  /// Everything left on the child's stdout (until end of file).
  std::string read_all();
  void close_stdin();
  /// Waits for the child to exit: its exit code, or 128 + signal number when a signal ended it.
  int wait();
  /// What the child wrote to stderr so far, at most the last `max_bytes`.
  std::string stderr_text(size_t max_bytes = 4000) const;

 private:
  int pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
  int status_ = -1;
};

}  // namespace mc
