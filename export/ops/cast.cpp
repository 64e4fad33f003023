// cast[dtype] -> Cast(to = the ONNX type of dtype).
#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

void cast(const ir::Node& n, ExportContext& ctx) {
  ir::DType d;
  if (!ir::parse_dtype(n.attrs().s("dtype"), &d)) unsupported(n, "unknown dtype '" + n.attrs().s("dtype") + "'");
  ctx.node("Cast", {ctx.in(n, 0)}, {ctx.out(n)}, {OnnxAttr::Int("to", onnx_dtype(d))});
}

}  // namespace

void register_cast(ExportRegistry& r) { r.add("cast", cast); }

}  // namespace mc::exporter::ops
