// Unary activations:
//   relu -> Relu, hardtanh -> Clip (min/max as inputs), sigmoid -> Sigmoid,
//   hardsigmoid -> HardSigmoid(alpha=1/6, beta=0.5), hardswish -> HardSwish (opset >= 14) else
//   x * HardSigmoid(x), silu -> x * Sigmoid(x), gelu -> 0.5 x (1 + erf(x / sqrt 2)) (or the tanh
//   approximation), tanh -> Tanh, leaky_relu -> LeakyRelu, softmax / log_softmax -> (Log)Softmax(axis),
//   identity / dropout / stochastic_depth -> nothing (inference: the output is the input).
#include <cmath>

#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

ExportFn simple(const std::string& op_type) {
  return [op_type](const ir::Node& n, ExportContext& ctx) { ctx.node(op_type, {ctx.in(n, 0)}, {ctx.out(n)}); };
}

void hardtanh(const ir::Node& n, ExportContext& ctx) {
  ir::DType dt = ctx.in_dtype(n);
  ctx.node("Clip",
           {ctx.in(n, 0), ctx.scalar(n.attrs().f("min_val", -1.0), dt, "min"), ctx.scalar(n.attrs().f("max_val", 1.0), dt, "max")},
           {ctx.out(n)});
}

const std::vector<OnnxAttr> kHardSigmoid = {OnnxAttr::Float("alpha", 1.0 / 6.0), OnnxAttr::Float("beta", 0.5)};

void hardsigmoid(const ir::Node& n, ExportContext& ctx) { ctx.node("HardSigmoid", {ctx.in(n, 0)}, {ctx.out(n)}, kHardSigmoid); }

void hardswish(const ir::Node& n, ExportContext& ctx) {
  if (ctx.opset() >= 14) {
    ctx.node("HardSwish", {ctx.in(n, 0)}, {ctx.out(n)});
    return;
  }
  std::string hs = ctx.op1("HardSigmoid", {ctx.in(n, 0)}, kHardSigmoid);
  ctx.node("Mul", {ctx.in(n, 0), hs}, {ctx.out(n)});
}

void silu(const ir::Node& n, ExportContext& ctx) {
  std::string s = ctx.op1("Sigmoid", {ctx.in(n, 0)});
  ctx.node("Mul", {ctx.in(n, 0), s}, {ctx.out(n)});
}

void gelu(const ir::Node& n, ExportContext& ctx) {
  const std::string x = ctx.in(n, 0);
  const ir::DType dt = ctx.in_dtype(n);
  const std::string approx = n.attrs().s("approximate", "none");
  std::string inner;
  if (approx == "none") {
    // The pattern ORT fuses into its Gelu kernel: Div(sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5).
    std::string t = ctx.op1("Div", {x, ctx.scalar(std::sqrt(2.0), dt, "sqrt2")});
    std::string e = ctx.op1("Erf", {t});
    inner = ctx.op1("Add", {e, ctx.scalar(1.0, dt, "one")});
  } else if (approx == "tanh") {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    std::string x3 = ctx.op1("Mul", {ctx.op1("Mul", {x, x}), x});
    std::string p = ctx.op1("Add", {x, ctx.op1("Mul", {x3, ctx.scalar(0.044715, dt, "c")})});
    std::string th = ctx.op1("Tanh", {ctx.op1("Mul", {p, ctx.scalar(std::sqrt(2.0 / M_PI), dt, "sqrt_2_over_pi")})});
    inner = ctx.op1("Add", {th, ctx.scalar(1.0, dt, "one")});
  } else {
    unsupported(n, "gelu approximate='" + approx + "' has no ONNX mapping (none, tanh)");
  }
  std::string m = ctx.op1("Mul", {x, inner});
  ctx.node("Mul", {m, ctx.scalar(0.5, dt, "half")}, {ctx.out(n)});
}

void leaky_relu(const ir::Node& n, ExportContext& ctx) {
  ctx.node("LeakyRelu", {ctx.in(n, 0)}, {ctx.out(n)}, {OnnxAttr::Float("alpha", n.attrs().f("negative_slope", 0.01))});
}

ExportFn softmax(const std::string& op_type) {
  return [op_type](const ir::Node& n, ExportContext& ctx) {
    int64_t axis = ctx.wrap_dim(n.attrs().i("dim"), ctx.in_rank(n));
    ctx.node(op_type, {ctx.in(n, 0)}, {ctx.out(n)}, {OnnxAttr::Int("axis", axis)});
  };
}

void passthrough(const ir::Node& n, ExportContext& ctx) { ctx.alias(n, 0, ctx.in(n, 0)); }

}  // namespace

void register_activation(ExportRegistry& r) {
  r.add("relu", simple("Relu"));
  r.add("sigmoid", simple("Sigmoid"));
  r.add("tanh", simple("Tanh"));
  r.add("hardtanh", hardtanh);
  r.add("hardsigmoid", hardsigmoid);
  r.add("hardswish", hardswish);
  r.add("silu", silu);
  r.add("gelu", gelu);
  r.add("leaky_relu", leaky_relu);
  r.add("softmax", softmax("Softmax"));
  r.add("log_softmax", softmax("LogSoftmax"));
  r.add("identity", passthrough);
  r.add("dropout", passthrough);
  r.add("stochastic_depth", passthrough);
}

}  // namespace mc::exporter::ops
