// Helpers of the exporter tests: build tiny models from IR text, run an exported file in ONNX
// Runtime (tests/ort/run_onnx.js, onnxruntime-node) and compare with our executor.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "data/npy.h"
#include "export/onnx_export.h"
#include "ir/model.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc::test {

inline at::Generator export_gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

/// A model from IR text; every tensor the graph refers to gets random values of the given shape
/// (names containing "var" are positive, as running variances must be).
inline ir::Model model_from_ir(const std::string& text, const std::map<std::string, std::vector<int64_t>>& shapes,
                               uint64_t seed = 7) {
  ir::Model m;
  m.name = "test";
  m.graph = ir::Graph::parse(text);
  auto g = export_gen(seed);
  for (auto& [name, shape] : shapes) {
    at::Tensor t = at::empty(shape);
    if (name.find("var") != std::string::npos) t.uniform_(0.5, 2.0, g);
    else t.normal_(0, 0.5, g);
    m.tensors[name] = t;
  }
  m.infer_shapes();
  m.verify();
  return m;
}

inline std::string ort_runner() { return source_dir() + "/tests/ort/run_onnx.js"; }

/// Runs `onnx` in ONNX Runtime at `level` on `x`; returns its first output. Fails the test (and
/// returns an undefined tensor) when ORT fails. `int8_kernels`: "exact" (the QDQ graph's arithmetic
/// on every x86 CPU, the oracle) or "default" (ORT's default kernels, which saturate u8 x s8 pair
/// sums on CPUs without VNNI: what a deployment and export's ort_eval run).
inline at::Tensor run_ort(const std::string& onnx, const std::vector<at::Tensor>& xs, const std::string& level = "all",
                          const std::string& int8_kernels = "exact") {
  namespace fs = std::filesystem;
  if (!fs::exists(source_dir() + "/tests/ort/node_modules/onnxruntime-node")) {
    ADD_FAILURE() << "onnxruntime-node is not installed: run `cd tests/ort && npm install --ignore-scripts` (make deps)";
    return {};
  }
  std::string out = onnx + ".out.npy", args;
  std::vector<std::string> ins;
  for (size_t i = 0; i < xs.size(); ++i) {  // --input, --input2, ... in graph-input order (any dtype)
    ins.push_back(onnx + ".in" + std::to_string(i) + ".npy");
    data::write_npy(ins.back(), xs[i]);
    args += " --input" + (i ? std::to_string(i + 1) : std::string()) + " '" + ins.back() + "'";
  }
  RunResult r = run_command("node " + ort_runner() + " '" + onnx + "'" + args + " --output '" + out +
                            "' --level " + level + " --int8-kernels " + int8_kernels);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "ONNX Runtime failed on " << onnx << " (exit " << r.exit_code << "):\n" << r.out;
    return {};
  }
  at::Tensor y = data::read_npy(out);
  for (const auto& f : ins) fs::remove(f);
  fs::remove(out);
  return y;
}
inline at::Tensor run_ort(const std::string& onnx, const at::Tensor& x, const std::string& level = "all",
                          const std::string& int8_kernels = "exact") {
  return run_ort(onnx, std::vector<at::Tensor>{x}, level, int8_kernels);
}

/// ORT's op histogram of its optimised graph (level all) for `onnx`.
inline std::map<std::string, int> ort_optimized_histogram(const std::string& onnx) {
  std::string opt = onnx + ".opt.onnx";
  RunResult r = run_command("node " + ort_runner() + " '" + onnx + "' --optimized-model '" + opt +
                            "' --histogram --level all --threads 1 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::map<std::string, int> h;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.value("optimized", false)) continue;
    for (auto& [k, v] : j["histogram"].items()) h[k] = v.get<int>();
  }
  EXPECT_FALSE(h.empty()) << "no optimised histogram in:\n" << r.out;
  return h;
}

inline std::string hist_str(const std::map<std::string, int>& h) {
  std::string s;
  for (auto& [k, v] : h) s += k + ":" + std::to_string(v) + " ";
  return s;
}

/// max |a - b| <= rel * max |ref| (and equal shapes).
inline ::testing::AssertionResult close_to(const at::Tensor& ref, const at::Tensor& got, double rel = 1e-4) {
  if (!got.defined()) return ::testing::AssertionFailure() << "no output";
  if (ref.sizes() != got.sizes())
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " != expected " << ref.sizes();
  at::Tensor r = ref.to(at::kDouble), o = got.to(at::kDouble);
  double scale = r.abs().max().item<double>();
  double diff = (r - o).abs().max().item<double>();
  if (diff <= rel * std::max(scale, 1e-12)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs diff " << diff << " > " << rel << " x max abs output " << scale;
}

/// Exports `model` to a temporary ONNX file (the exporter runs onnx::checker and strict shape
/// inference) and compares ONNX Runtime's output on `x` with `ours` (close_to).
inline ::testing::AssertionResult export_matches_ort(const ir::Model& model, const at::Tensor& x, const at::Tensor& ours,
                                                     const std::string& name = "model") {
  TempDir dir;
  const std::string onnx = dir.file(name + ".onnx");
  exporter::export_onnx(model, onnx);
  return close_to(ours, run_ort(onnx, x));
}

inline onnx::ModelProto load_onnx(const std::string& path) {
  onnx::ModelProto mp;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  EXPECT_TRUE(mp.ParseFromIstream(&in)) << "cannot parse " << path;
  return mp;
}

/// Random input of the model's input shape with dim 0 = batch; an integer input is uniform in
/// [0, scale) (token ids: scale = the embedding's rows).
inline at::Tensor random_input(const ir::Model& m, int64_t batch, uint64_t seed, double scale = 1.0) {
  ir::Shape s = m.input_shape(0, batch);
  if (m.graph.inputs()[0]->type().dtype == ir::DType::i64)
    return at::randint(static_cast<int64_t>(scale), s, export_gen(seed), at::TensorOptions().dtype(at::kLong));
  return at::empty(s).normal_(0, scale, export_gen(seed));
}

}  // namespace mc::test
