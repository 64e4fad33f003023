#include "export/ort_eval.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/error.h"
#include "common/subprocess.h"
#include "runtime/executor.h"
#include "train/loss.h"

#ifndef MC_SOURCE_DIR
#define MC_SOURCE_DIR "."
#endif

namespace mc::exporter {
namespace fs = std::filesystem;
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

OrtRuntime locate() {
  OrtRuntime rt;
  const std::string node = env("MC_NODE").empty() ? "node" : env("MC_NODE");
  rt.node = find_in_path(node);
  if (rt.node.empty()) {
    rt.error = "'" + node + "' not found" + (env("MC_NODE").empty() ? " in PATH" : " (MC_NODE)") + "; " + ort_install_hint();
    return rt;
  }
  const std::string share = env("MC_SHARE_DIR").empty() ? std::string(MC_SOURCE_DIR) + "/share" : env("MC_SHARE_DIR");
  rt.script = share + "/ort_eval.js";
  if (!fs::is_regular_file(rt.script)) {
    rt.error = rt.script + " not found (set MC_SHARE_DIR to the folder holding ort_eval.js)";
    return rt;
  }
  const std::string installed = std::string(MC_SOURCE_DIR) + "/tests/ort/node_modules";
  if (!env("MC_ORT_NODE_MODULES").empty())
    rt.modules = env("MC_ORT_NODE_MODULES");
  else if (fs::exists(installed + "/onnxruntime-node/package.json"))
    rt.modules = installed;
  return rt;
}

std::vector<std::string> script_argv(const OrtRuntime& rt, std::vector<std::string> args) {
  std::vector<std::string> argv = {rt.node, rt.script};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!rt.modules.empty()) argv.insert(argv.end(), {"--modules", rt.modules});
  return argv;
}

// Loads onnxruntime-node once: its version, or the reason it does not load.
void probe(OrtRuntime& rt) {
  try {
    Subprocess p(script_argv(rt, {"--probe"}));
    p.close_stdin();
    const std::string out = p.read_all();
    if (p.wait() != 0) {
      std::string why = p.stderr_text();
      const std::string prefix = "ort_eval.js: error: ";
      if (why.rfind(prefix, 0) == 0) why = why.substr(prefix.size());
      rt.error = why + "; " + ort_install_hint();
      return;
    }
    rt.version = nlohmann::json::parse(out).at("onnxruntime").get<std::string>();
  } catch (const std::exception& e) {
    rt.error = std::string(e.what()) + "; " + ort_install_hint();
  }
}

// Sends one batch (int64 ndim, int64 dims, float32 data); false when the child is gone.
bool send_batch(Subprocess& p, const at::Tensor& images) {
  at::Tensor x = images.to(at::kCPU, at::kFloat).contiguous();
  std::vector<int64_t> head = {x.dim()};
  for (int64_t d : x.sizes()) head.push_back(d);
  return p.write(head.data(), head.size() * sizeof(int64_t)) &&
         p.write(x.data_ptr<float>(), static_cast<size_t>(x.numel()) * sizeof(float));
}

// Receives one batch of outputs as a [rows, cols] tensor; undefined when the child is gone.
at::Tensor receive_outputs(Subprocess& p) {
  int64_t shape[2];
  if (!p.read(shape, sizeof shape) || shape[0] < 0 || shape[1] < 0) return {};
  at::Tensor y = at::empty({shape[0], shape[1]}, at::kFloat);
  if (!p.read(y.data_ptr<float>(), static_cast<size_t>(y.numel()) * sizeof(float))) return {};
  return y;
}

[[noreturn]] void fail(Subprocess& p, const std::string& onnx) {
  p.close_stdin();
  const int rc = p.wait();
  const std::string why = p.stderr_text();
  throw RuntimeFailure("ONNX Runtime run of " + onnx + " failed (node exit code " + std::to_string(rc) +
                       "): " + (why.empty() ? "no message" : why));
}

}  // namespace

std::string ort_install_hint() {
  return "install Node.js (>= 18) and onnxruntime-node 1.30.0: scripts/install-deps.sh does both (npm install in "
         "tests/ort), or run `npm install onnxruntime-node@1.30.0` in a folder and set "
         "MC_ORT_NODE_MODULES=<folder>/node_modules";
}

const OrtRuntime& find_ort_runtime() {
  static const OrtRuntime rt = [] {
    OrtRuntime r = locate();
    if (r.available()) probe(r);
    return r;
  }();
  return rt;
}

OrtEvalResult evaluate_in_ort(const OrtRuntime& rt, const std::string& onnx, ir::Model& model,
                              data::DataLoader& loader, int64_t threads, train::ProgressOptions progress_options) {
  if (!rt.available()) throw RuntimeFailure("ONNX Runtime is not available: " + rt.error);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> args = {onnx};
  if (threads > 0) args.insert(args.end(), {"--threads", std::to_string(threads)});
  Subprocess p(script_argv(rt, args));
  runtime::Executor ex(model);
  train::EvalAccumulator ort_acc, ours_acc;
  train::Progress progress(std::move(progress_options), 1, static_cast<int64_t>(loader.size()));
  progress.begin_epoch(0);
  OrtEvalResult r;
  int64_t agree = 0;
  loader.reset(0);
  data::Batch b;
  while (loader.next(b)) {
    if (!send_batch(p, b.images)) fail(p, onnx);
    at::Tensor ours = ex.run1(b.images).detach().to(at::kCPU, at::kFloat);  // while ORT runs the same batch
    at::Tensor theirs = receive_outputs(p);
    if (!theirs.defined()) fail(p, onnx);
    ours = ours.reshape({ours.size(0), -1});
    if (theirs.sizes() != ours.sizes())
      throw RuntimeFailure("ONNX Runtime returned outputs of shape " + c10::str(theirs.sizes()) + " for " + onnx +
                           " where our executor gives " + c10::str(ours.sizes()));
    ort_acc.add(theirs, b.labels);
    ours_acc.add(ours, b.labels);
    agree += theirs.argmax(1).eq(ours.argmax(1)).sum().item<int64_t>();
    r.max_abs_diff = std::max(r.max_abs_diff, (theirs - ours).abs().max().item<double>());
    progress.step(theirs.size(0), train::cross_entropy_per_sample(theirs, b.labels).mean().item<double>());
  }
  const int64_t end = 0;
  if (!p.write(&end, sizeof end)) fail(p, onnx);
  p.close_stdin();
  if (p.wait() != 0) fail(p, onnx);
  r.ort = ort_acc.result();
  r.ours = ours_acc.result();
  r.count = r.ort.count;
  if (r.count == 0)
    throw InputError("ONNX Runtime evaluation: '" + loader.dataset().name() + "' yields no samples (is data.val empty?)");
  r.agreement = static_cast<double>(agree) / static_cast<double>(r.count);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

OrtLatency time_in_ort(const OrtRuntime& rt, const std::string& onnx, int64_t batch, int64_t runs, int64_t warmup,
                       int64_t threads, const std::vector<std::string>& inputs) {
  if (!rt.available()) throw RuntimeFailure("ONNX Runtime is not available: " + rt.error);
  std::vector<std::string> args = {onnx, "--latency", std::to_string(batch), "--runs", std::to_string(runs),
                                   "--warmup", std::to_string(warmup)};
  if (threads > 0) args.insert(args.end(), {"--threads", std::to_string(threads)});
  if (!inputs.empty()) {
    std::string list;
    for (const std::string& f : inputs) list += (list.empty() ? "" : ",") + f;
    args.insert(args.end(), {"--inputs", list});
  }
  Subprocess p(script_argv(rt, args));
  p.close_stdin();
  const std::string out = p.read_all();
  if (p.wait() != 0) fail(p, onnx);
  try {
    const nlohmann::json j = nlohmann::json::parse(out);
    OrtLatency r;
    r.batch = j.at("batch").get<int64_t>();
    r.runs = j.at("runs").get<int64_t>();
    r.median_ms = j.at("median_ms").get<double>();
    r.min_ms = j.at("min_ms").get<double>();
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeFailure("ONNX Runtime timing of " + onnx + ": unreadable answer from " + rt.script + " (" + e.what() + ")");
  }
}

}  // namespace mc::exporter
