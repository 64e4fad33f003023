// Fuzz target: the ONNX side we read, `compress check-tensorrt MODEL.onnx` (export/tensorrt_check.h):
// the file is parsed as onnx.ModelProto and checked against TensorRT's INT8 rules, and the result is
// printed both ways the command prints it (table, JSON).
#include "export/tensorrt_check.h"
#include "fuzz/fuzz_target.h"

MC_FUZZ_TARGET(onnx_trt) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  mc::fuzz::expect_errors([&] {
    mc::exporter::TrtCheckResult r = mc::exporter::check_tensorrt_file(mc::fuzz::write_scratch("model.onnx", bytes));
    r.table();
    r.to_json().dump();
  });
  return 0;
}
