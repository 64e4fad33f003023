// Errors that reach the user. Every message says what went wrong, where, and how to fix it.
#pragma once
#include <stdexcept>
#include <string>

namespace mc {

/// Base of all user-facing errors. `exit_code()` is what the CLI returns.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
  virtual int exit_code() const { return 1; }
};

/// Bad input from the user: recipe, model file, data, command-line value. Exit code 2.
class InputError : public Error {
 public:
  explicit InputError(const std::string& msg) : Error(msg) {}
  int exit_code() const override { return 2; }
};

/// A failure while running (numerics, training divergence, I/O at run time). Exit code 1.
class RuntimeFailure : public Error {
 public:
  explicit RuntimeFailure(const std::string& msg) : Error(msg) {}
};

/// The first line of a message. LibTorch's errors (c10::Error, and the std::runtime_error some ATen
/// checks throw) put the cause on the first line, then context and the backtrace: users see the cause.
inline std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace mc
