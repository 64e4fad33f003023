// Helpers for the TorchScript importer tests (tests/frontend and tests/torchvision): the fixture
// manifest, the TorchScript reference forward, and output comparison.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/npy.h"
#include "frontend/frontend.h"
#include "ir/model.h"
#include "support/test_env.h"

namespace mc::test {

/// <build>/fixtures/manifest.json (made by tests/fixtures/make_torchvision.py, ctest's fixture step).
inline const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    std::string path = fixture_dir() + "/manifest.json";
    std::ifstream f(path);
    if (!f)
      throw std::runtime_error("no " + path + ": run the fixture step (ctest -R fixtures, or /usr/bin/python3 "
                               "tests/fixtures/make_torchvision.py --out " + fixture_dir() + ")");
    return nlohmann::json::parse(f);
  }();
  return m;
}

inline std::string fixture(const std::string& file) { return fixture_dir() + "/" + file; }

inline std::vector<int64_t> json_shape(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

/// A traced torchvision fixture of the manifest imported into our IR, with its recorded input.
struct TracedFixture {
  ir::Model model;
  at::Tensor input;
};
inline TracedFixture import_traced_fixture(const std::string& name) {
  const auto& entry = manifest().at("models").at(name);
  frontend::ImportOptions o;
  o.input_shape = json_shape(entry.at("input_shape"));
  return {frontend::import_torchscript(fixture(entry.at("files").at("traced").get<std::string>()), o),
          data::read_npy(fixture(entry.at("files").at("input").get<std::string>()))};
}

/// Every tensor of a TorchScript forward result, flattened (tuples/lists in order, None skipped).
inline void flatten_ivalue(const c10::IValue& v, std::vector<at::Tensor>& out) {
  if (v.isTensor()) out.push_back(v.toTensor());
  else if (v.isTuple())
    for (auto& e : v.toTupleRef().elements()) flatten_ivalue(e, out);
  else if (v.isList())
    for (auto& e : v.toListRef()) flatten_ivalue(e, out);
}

/// TorchScript's own forward (eval mode, no grad) of the file on `x`.
inline std::vector<at::Tensor> torchscript_forward(const std::string& path, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  auto m = torch::jit::load(path);
  m.eval();
  std::vector<at::Tensor> out;
  flatten_ivalue(m.forward({x}), out);
  return out;
}

/// max |a - b| <= rel * max |b|.
inline ::testing::AssertionResult all_close(const at::Tensor& a, const at::Tensor& b, double rel = 1e-4) {
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs reference " << b.sizes();
  double scale = b.abs().max().item<double>();
  double diff = (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  if (diff <= rel * scale) return ::testing::AssertionSuccess() << "max|diff| " << diff;
  return ::testing::AssertionFailure() << "max|diff| " << diff << " > " << rel << " x max|ref| " << scale;
}

}  // namespace mc::test
