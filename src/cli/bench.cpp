// compress bench MODEL [--input-shape ... --input-dtype ...] [--batch 1,64] [--repeats N] [--ort]
// Random inputs: float inputs standard normal, integer ones uniform in [0, rows of the embedding
// they index) (runtime::random_inputs; 0/1 for an integer input that indexes no embedding).
// Times the model in our executor and, with --ort, the same model exported to ONNX in ONNX Runtime
// (tests/ort/run_onnx.js, onnxruntime-node) on the same input shapes: median milliseconds per run.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "data/npy.h"
#include "export/onnx_export.h"
#include "frontend/frontend.h"
#include "ir/passes/optimize.h"
#include "report/metrics.h"
#include "runtime/random_inputs.h"

#ifndef MC_SOURCE_DIR
#define MC_SOURCE_DIR "."
#endif

namespace mc::cli {

namespace {
struct BenchArgs {
  std::string model, batches = "1,64";
  InputArgs inputs;
  int repeats = 20;
  bool ort = false;
};

std::string ort_runner() {
  if (const char* env = std::getenv("MC_ORT_RUNNER")) return env;
  return std::string(MC_SOURCE_DIR) + "/tests/ort/run_onnx.js";
}

// Runs the ONNX Runtime runner and returns its median time in ms.
double time_in_ort(const std::string& onnx, const std::vector<std::string>& inputs, int repeats) {
  std::string runner = ort_runner();
  if (!std::filesystem::exists(runner))
    throw InputError("ONNX Runtime runner '" + runner + "' not found (set MC_ORT_RUNNER or run scripts/install-deps.sh)");
  std::string cmd = "node '" + runner + "' '" + onnx + "'";
  for (size_t i = 0; i < inputs.size(); ++i)  // --input, --input2, ... in graph-input order
    cmd += " --input" + (i ? std::to_string(i + 1) : std::string()) + " '" + inputs[i] + "'";
  cmd += " --time " + std::to_string(repeats) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw RuntimeFailure("cannot start node for ONNX Runtime");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) throw RuntimeFailure("ONNX Runtime failed on '" + onnx + "': " + out);
  auto pos = out.rfind("{\"median_ms\"");
  if (pos == std::string::npos) throw RuntimeFailure("unexpected output of the ONNX Runtime runner: " + out);
  return nlohmann::json::parse(out.substr(pos, out.find('\n', pos) - pos))["median_ms"].get<double>();
}
}  // namespace

void add_bench_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  static BenchArgs a;
  CLI::App* b = app.add_subcommand("bench", "Latency of a model in our executor (and in ONNX Runtime with --ort)");
  b->add_option("model", a.model, "TorchScript .pt, .mcm checkpoint, .mcz archive or zoo:<name>")->required();
  add_input_options(b, a.inputs, "Input shape, batch first (TorchScript)");
  b->add_option("--batch", a.batches, "Batch sizes to time, comma-separated");
  b->add_option("--repeats", a.repeats, "Timed runs per batch size (median reported)")->check(CLI::Range(1, 100000));
  b->add_flag("--ort", a.ort, "Also time the exported ONNX model in ONNX Runtime");
  t.add(b, [] {
    ir::Shape batches = frontend::parse_shape(a.batches, "--batch");
    ir::Model m = frontend::load_model(a.model, a.inputs.parse());
    std::string tmp = std::filesystem::temp_directory_path().string() + "/compress_bench_" + std::to_string(::getpid());
    std::filesystem::create_directories(tmp);
    struct Cleanup {
      std::string d;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    } cleanup{tmp};
    if (a.ort) {
      ir::Model copy = m.clone();
      ir::passes::optimize(copy);
      exporter::export_onnx(copy, tmp + "/model.onnx", {});
    }
    std::cout << std::left << std::setw(8) << "batch" << std::setw(16) << "ours ms" << (a.ort ? "ORT ms          ratio (ORT/ours)" : "")
              << "\n";
    for (int64_t batch : batches) {
      double ours = report::measure_latency_ms(m, batch, a.repeats, 2);
      std::cout << std::setw(8) << batch << std::setw(16) << std::fixed << std::setprecision(3) << ours;
      if (a.ort) {
        std::vector<std::string> files;
        for (const at::Tensor& x : runtime::random_inputs(m, batch, c10::Device(c10::kCPU))) {
          files.push_back(tmp + "/input_" + std::to_string(batch) + "_" + std::to_string(files.size()) + ".npy");
          data::write_npy(files.back(), x);
        }
        double ort = time_in_ort(tmp + "/model.onnx", files, a.repeats);
        std::cout << std::setw(16) << ort << std::setprecision(2) << ort / ours;
      }
      std::cout << "\n";
    }
    return 0;
  });
}

}  // namespace mc::cli
