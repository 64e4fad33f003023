// Helpers for tests that compare against PyTorch itself: Debian's /usr/bin/python3 with torch 1.13
// (not whatever python3 is first on PATH). Tensors travel as raw little-endian files.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/test_env.h"

namespace mc::test {

/// Writes `t` (float32 or int64) as raw bytes.
inline void write_raw(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

inline at::Tensor read_raw(const std::string& path, at::IntArrayRef shape, at::ScalarType dtype = at::kFloat) {
  at::Tensor t = at::empty(shape, dtype);
  std::ifstream f(path, std::ios::binary);
  f.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  EXPECT_TRUE(f.good()) << "cannot read " << path;
  return t;
}

/// Writes `script` into `dir` and runs it with `dir` as argv[1]; returns its output, failing the
/// test when it exits non-zero.
inline std::string run_python(const TempDir& dir, const std::string& script, const std::string& args = "") {
  const std::string path = dir.file("ref.py");
  {
    std::ofstream s(path);
    s << script;
  }
  auto r = run_command("/usr/bin/python3 " + path + " " + dir.path() + " " + args);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return r.out;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.detach().to(at::kDouble) - b.detach().to(at::kDouble)).abs().max().item<double>();
}

}  // namespace mc::test
