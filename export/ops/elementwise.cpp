// add / sub / mul / div -> Add / Sub / Mul / Div, eq -> Equal, where -> Where (numpy broadcasting
// in both). ONNX wants equal input types: an input whose dtype differs from the output's (eq: from
// the first input's) is Cast first (PyTorch promotes).
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

// Equal on one type: a float operand makes the comparison float (PyTorch's promotion of an int64
// mask compared with a float scalar), else the first operand's type.
void eq(const ir::Node& n, ExportContext& ctx) {
  const ir::DType a = ctx.in_dtype(n, 0), b = ctx.in_dtype(n, 1);
  const bool a_float = a == ir::DType::f32 || a == ir::DType::f16 || a == ir::DType::f64;
  const bool b_float = b == ir::DType::f32 || b == ir::DType::f16 || b == ir::DType::f64;
  const ir::DType want = b_float && !a_float ? b : a;
  std::vector<std::string> ins;
  for (size_t i = 0; i < 2; ++i) {
    std::string x = ctx.in(n, i);
    if (ctx.in_dtype(n, i) != want) x = ctx.op1("Cast", {x}, {OnnxAttr::Int("to", onnx_dtype(want))});
    ins.push_back(x);
  }
  ctx.node("Equal", ins, {ctx.out(n)});
}

void where(const ir::Node& n, ExportContext& ctx) {
  ctx.node("Where", {ctx.in(n, 0), ctx.in(n, 1), ctx.in(n, 2)}, {ctx.out(n)});
}

}  // namespace

void register_elementwise(ExportRegistry& r) {
  r.add("add", binary("Add"));
  r.add("sub", binary("Sub"));
  r.add("mul", binary("Mul"));
  r.add("div", binary("Div"));
  r.add("eq", eq);
  r.add("where", where);
}

}  // namespace mc::exporter::ops
