// linear -> Gemm (transB=1) for a 2-d input, else MatMul with the transposed weight (+ Add);
// matmul -> MatMul; embedding -> Gather(weight, ids) on axis 0. Weights with few distinct values are read through export/codebook_weights.h.
#include "export/codebook_weights.h"
#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

void linear(const ir::Node& n, ExportContext& ctx) {
  const bool has_bias = n.inputs().size() > 2;
  const std::string w = weight_input(n, 1, ctx);
  if (ctx.in_rank(n) == 2) {
    std::vector<std::string> ins{ctx.in(n, 0), w};
    if (has_bias) ins.push_back(ctx.in(n, 2));
    ctx.node("Gemm", ins, {ctx.out(n)}, {OnnxAttr::Int("transB", 1)});
    return;
  }
  std::string wt = ctx.op1("Transpose", {w}, {OnnxAttr::Ints("perm", {1, 0})});
  if (!has_bias) {
    ctx.node("MatMul", {ctx.in(n, 0), wt}, {ctx.out(n)});
    return;
  }
  std::string y = ctx.op1("MatMul", {ctx.in(n, 0), wt});
  ctx.node("Add", {y, ctx.in(n, 2)}, {ctx.out(n)});
}

void matmul(const ir::Node& n, ExportContext& ctx) {
  ctx.node("MatMul", {weight_input(n, 0, ctx), weight_input(n, 1, ctx)}, {ctx.out(n)});
}

void embedding(const ir::Node& n, ExportContext& ctx) {
  ctx.node("Gather", {weight_input(n, 1, ctx), ctx.in(n, 0)}, {ctx.out(n)}, {OnnxAttr::Int("axis", 0)});
}

}  // namespace

void register_linear(ExportRegistry& r) {
  r.add("linear", linear);
  r.add("matmul", matmul);
  r.add("embedding", embedding);
}

}  // namespace mc::exporter::ops
