// compress bench MODEL [--input-shape ... --input-dtype ...] [--batch 1,64] [--repeats N] [--ort]
// Random inputs: float inputs standard normal, integer ones uniform in [0, rows of the embedding
// they index) (runtime::random_inputs; 0/1 for an integer input that indexes no embedding).
// Times the model in our executor and, with --ort, the same model exported to ONNX in ONNX Runtime
// (exporter::time_in_ort: share/ort_eval.js --latency on the same inputs, written as .npy, with as
// many intra-op threads as ours): median milliseconds per run.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "data/npy.h"
#include "export/onnx_export.h"
#include "export/ort_eval.h"
#include "frontend/frontend.h"
#include "ir/passes/optimize.h"
#include "report/metrics.h"
#include "runtime/random_inputs.h"

namespace mc::cli {

namespace {
struct BenchArgs {
  std::string model, batches = "1,64";
  InputArgs inputs;
  int repeats = 20;
  bool ort = false;
};

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
      if (!exporter::find_ort_runtime().available())
        throw InputError("--ort needs ONNX Runtime, which is not available: " + exporter::find_ort_runtime().error +
                         " (" + exporter::ort_install_hint() + ")");
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
        const double ort =
            exporter::time_in_ort(exporter::find_ort_runtime(), tmp + "/model.onnx", batch, a.repeats, 2,
                                  at::get_num_threads(), files)
                .median_ms;
        std::cout << std::setw(16) << ort << std::setprecision(2) << ort / ours;
      }
      std::cout << "\n";
    }
    return 0;
  });
}

}  // namespace mc::cli
