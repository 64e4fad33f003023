// compress check-tensorrt MODEL.onnx [--strict] [--json]
// Checks a QDQ ONNX model against TensorRT's INT8 explicit-quantization rules
// (export/tensorrt_check.h): one line per Conv / Gemm / MatMul / residual Add saying whether
// TensorRT would run it in INT8 or in float and why, then the Q/DQ nodes that break a rule.
// Exit 0; with --strict, exit 2 when any node would fall back to float or a rule is broken.
#include <iostream>

#include "cli/commands.h"
#include "export/tensorrt_check.h"

namespace mc::cli {

namespace {

struct CheckArgs {
  std::string model;
  bool strict = false;
  bool json = false;
};

int check(const CheckArgs& a) {
  exporter::TrtCheckResult r = exporter::check_tensorrt_file(a.model);
  if (a.json) std::cout << r.to_json().dump() << "\n";
  else std::cout << r.table();
  if (a.strict && !r.ok()) {
    std::cerr << "error: " << a.model << ": " << r.float_nodes() << " node(s) would run in float and " << r.violations.size()
              << " Q/DQ node(s) break TensorRT's rules (see the table); quantize those inputs with symmetric int8 "
                 "Q/DQ, or drop --strict\n";
    return 2;
  }
  return 0;
}

}  // namespace

void add_check_tensorrt_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  auto a = std::make_shared<CheckArgs>();
  CLI::App* sub = app.add_subcommand("check-tensorrt", "Check a QDQ ONNX model against TensorRT's INT8 rules");
  sub->add_option("model", a->model, "QDQ .onnx file (e.g. exported from a quantized model)")->required();
  sub->add_flag("--strict", a->strict, "Exit 2 when a node would fall back to float or a rule is broken");
  sub->add_flag("--json", a->json, "Print one JSON object instead of the table");
  t.add(sub, [a] { return check(*a); });
}

}  // namespace mc::cli
