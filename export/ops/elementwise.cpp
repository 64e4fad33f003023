// add / sub / mul / div -> Add / Sub / Mul / Div (numpy broadcasting in both). ONNX wants equal
// input types: an input whose dtype differs from the output's is Cast first (PyTorch promotes).
#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

ExportFn binary(const std::string& op_type) {
  return [op_type](const ir::Node& n, ExportContext& ctx) {
    const ir::DType want = n.output()->type().dtype;
    std::vector<std::string> ins;
    for (size_t i = 0; i < 2; ++i) {
      std::string x = ctx.in(n, i);
      if (n.input(i)->type().has_shape && ctx.in_dtype(n, i) != want)
        x = ctx.op1("Cast", {x}, {OnnxAttr::Int("to", onnx_dtype(want))});
      ins.push_back(x);
    }
    ctx.node(op_type, ins, {ctx.out(n)});
  };
}

}  // namespace

void register_elementwise(ExportRegistry& r) {
  r.add("add", binary("Add"));
  r.add("sub", binary("Sub"));
  r.add("mul", binary("Mul"));
  r.add("div", binary("Div"));
}

}  // namespace mc::exporter::ops
