// Helpers shared by the low-rank tests: weights of known rank, what a factor chain computes, relative
// differences, and one-layer models from IR text.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>

#include "ir/model.h"
#include "ir/passes/pass_util.h"
#include "lowrank/decompose_options.h"
#include "lowrank/factors.h"
#include "recipe/config_tree.h"
#include "recipe/options.h"

namespace mc::lowrank::test {

/// The decompose stage's options from a YAML flow map, as a recipe entry would give them (parse
/// errors throw).
inline DecomposeOptions decompose_options(const std::string& yaml) {
  recipe::Diagnostics diag;
  const recipe::ConfigNode node = recipe::parse_yaml(yaml, "t.yaml");
  DecomposeOptions o;
  recipe::Reader r(&node, diag, "decompose");
  o.visit(r);
  r.finish();
  o.validate(node, diag);
  diag.throw_if_any();
  return o;
}

/// ||a - b||_F / ||b||_F, in float64.
inline double rel_fro(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() / b.to(at::kDouble).norm().item<double>();
}

/// max |a - b| / max |b|: the relative error of the worst element, on the output's scale.
inline double rel_max(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() / b.to(at::kDouble).abs().max().item<double>();
}

/// The [N, C, kh, kw] weight a factor chain stands for, composed with einsum in float64 (written
/// here from the table in lowrank/factors.h, independently of the factorisations).
inline at::Tensor compose(const ConvFactors& f) {
  std::vector<at::Tensor> w;
  for (const auto& t : f.weights) w.push_back(t.to(at::kDouble));
  switch (f.method) {
    case ConvMethod::channel_svd: return at::einsum("nr,rcyx->ncyx", {w[1].select(3, 0).select(2, 0), w[0]});
    case ConvMethod::spatial_svd:
      return at::einsum("nqx,qcy->ncyx", {w[1].select(2, 0), w[0].select(3, 0)});
    case ConvMethod::tucker2:
      return at::einsum("na,abyx,bc->ncyx", {w[2].select(3, 0).select(2, 0), w[1], w[0].select(3, 0).select(2, 0)});
    case ConvMethod::cp:
      return at::einsum("nq,qc,qy,qx->ncyx", {w[3].select(3, 0).select(2, 0), w[0].select(3, 0).select(2, 0),
                                              w[1].select(3, 0).select(1, 0), w[2].select(2, 0).select(1, 0)});
  }
  return {};
}

/// [out, in] of rank r (product of two Gaussian matrices).
inline at::Tensor low_rank_matrix(int64_t out, int64_t in, int64_t r) {
  return at::randn({out, r}, at::kDouble).mm(at::randn({r, in}, at::kDouble)).to(at::kFloat);
}

/// A one-layer model from IR text (tensors attached, shapes inferred, verified).
inline ir::Model make_model(const std::string& text, std::map<std::string, at::Tensor> tensors) {
  ir::Model m;
  m.graph = ir::Graph::parse(text, "lowrank_test");
  m.tensors = std::move(tensors);
  m.infer_shapes();
  m.verify();
  return m;
}

/// `graph(%x: f32[shape]) { %w = param conv.weight; %b = param conv.bias; %y = conv2d[attrs](...) @conv }`.
inline ir::Model conv_model(const at::Tensor& w, const std::string& attrs, const std::string& input_shape,
                            bool bias = true) {
  std::map<std::string, at::Tensor> t{{"conv.weight", w}};
  if (bias) t["conv.bias"] = at::randn({w.size(0)});
  std::string text = "graph(%x: f32" + input_shape + ") {\n  %w = param[name=\"conv.weight\"]() @conv\n";
  if (bias) text += "  %b = param[name=\"conv.bias\"]() @conv\n";
  text += "  %y = conv2d" + (attrs.empty() ? std::string() : "[" + attrs + "]") + "(%x, %w" + (bias ? ", %b" : "") +
          ") @conv\n  return(%y)\n}\n";
  return make_model(text, std::move(t));
}

/// Number of nodes with op `op`.
inline int64_t count(const ir::Model& m, const std::string& op) {
  auto c = ir::passes::op_counts(m.graph);
  return c.count(op) ? c.at(op) : 0;
}

}  // namespace mc::lowrank::test
