// Helpers shared by the test binaries: paths, running the `compress` binary, temp dirs.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace mc::test {

std::string source_dir();   // repository root
std::string fixture_dir();  // <build>/fixtures (made by tests/fixtures/make_torchvision.py)
std::string compress_bin(); // path of the built `compress` executable
/// The trained resnet8 fixture (2 epochs on Fashion-MNIST, BatchNorm folded; ctest -R fixtures.resnet8_fmnist).
std::string resnet8_fixture();
/// A JSON file (a run's report.json, calib.json, ...), parsed.
nlohmann::json read_json(const std::string& path);

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};
/// Runs a shell command line, capturing stdout+stderr.
RunResult run_command(const std::string& cmdline);
/// Runs `compress <args>`.
RunResult run_compress(const std::string& args);

/// The oracle of tests that compare with PyTorch or NumPy run by /usr/bin/python3 (Debian's, with
/// torch 1.13; never the python3 first on PATH): success when it imports every module of `modules`
/// ("torch, numpy"), else a failure naming the missing module and how to install it. Tests
/// `ASSERT_TRUE(test::python_oracle("torch, numpy"));`: `make test` installs the oracles, so a
/// missing one is a broken set-up that fails the test, never a reason to skip it.
::testing::AssertionResult python_oracle(const std::string& modules);

/// A fresh empty directory under the build tree, removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Writes `text` to file(name) and returns that path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

/// A registration in a global registry (IR ops, ONNX export mappings, channel rules) that is undone
/// when the scope ends, so that no test leaves a registry changed for the tests after it:
///   test::ScopedRegistration op([&] { reg.add(def); }, [&] { reg.remove(def.name); });
class ScopedRegistration {
 public:
  ScopedRegistration(const std::function<void()>& add, std::function<void()> remove) : remove_(std::move(remove)) {
    add();
  }
  ~ScopedRegistration() { remove_(); }
  ScopedRegistration(const ScopedRegistration&) = delete;
  ScopedRegistration& operator=(const ScopedRegistration&) = delete;

 private:
  std::function<void()> remove_;
};

}  // namespace mc::test
