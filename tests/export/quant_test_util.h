// Test helper for the QDQ export tests: inserts fake_quant nodes into a float model the TensorRT
// way (weights of conv2d/linear/matmul per-channel on the output-channel axis, activations
// per-tensor at the inputs of conv2d/linear/matmul, add and cat), with scales from the min/max of
// the values on a calibration input. Independent of the quantization/ folder on purpose: the
// exporter and checker are tested on graphs we control.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/model.h"
#include "runtime/executor.h"

namespace mc::test {

struct QuantSpec {
  int64_t w_qmin = -127, w_qmax = 127;  // symmetric weight grid (zero-point 0)
  bool per_channel = true;              // weights: per output channel, else per-tensor
  int64_t a_qmin = -128, a_qmax = 127;  // activation grid
  bool a_symmetric = true;              // zero-point 0 and scale = max|x| / a_qmax; else min/max affine
  std::set<std::string> act_ops = {"conv2d", "linear", "matmul", "add", "cat"};
  bool quantize_output = false;         // also quantize the graph's output (for step-sized tolerances)
};

/// Output-channel axis of the weight input (index 1) of a conv2d/linear/matmul node.
inline int64_t weight_axis(const ir::Node& n) { return n.op() == "matmul" ? 1 : 0; }

namespace detail {

inline ir::Node* insert_fq(ir::Model& m, ir::Node* before, ir::Value* x, const at::Tensor& scale, const at::Tensor& zp,
                           int64_t qmin, int64_t qmax, int64_t axis, const std::string& scope) {
  ir::Graph& g = m.graph;
  std::string sname = m.add_tensor(scope + ".fq_scale", scale.to(at::kFloat).contiguous());
  std::string zname = m.add_tensor(scope + ".fq_zero_point", zp.to(at::kInt).contiguous());
  ir::Attrs sa, za, fa;
  sa.set("name", sname);
  za.set("name", zname);
  ir::Node* s = g.insert_before(before, "constant", {}, sa, scope);
  ir::Node* z = g.insert_before(before, "constant", {}, za, scope);
  fa.set("quant_min", qmin);
  fa.set("quant_max", qmax);
  if (axis != -1) fa.set("axis", axis);
  return g.insert_before(before, "fake_quant", {x, s->output(), z->output()}, fa, scope);
}

inline void act_qparams(double lo, double hi, const QuantSpec& q, at::Tensor* scale, at::Tensor* zp) {
  if (q.a_symmetric) {
    double amax = std::max({std::abs(lo), std::abs(hi), 1e-8});
    *scale = at::scalar_tensor(amax / static_cast<double>(q.a_qmax), at::kFloat);
    *zp = at::scalar_tensor(0, at::kInt);
    return;
  }
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  double s = std::max((hi - lo) / static_cast<double>(q.a_qmax - q.a_qmin), 1e-8);
  double z = std::clamp(static_cast<double>(q.a_qmin) - std::round(lo / s), static_cast<double>(q.a_qmin),
                        static_cast<double>(q.a_qmax));
  *scale = at::scalar_tensor(s, at::kFloat);
  *zp = at::scalar_tensor(z, at::kInt);
}

}  // namespace detail

/// Inserts fake_quant nodes into `m` (see the header); `calib` is a calibration batch.
inline void insert_fake_quant(ir::Model& m, const at::Tensor& calib, const QuantSpec& q = {}) {
  ir::Graph& g = m.graph;
  auto is_src = [](const ir::Node* p) { return p && (p->op() == "param" || p->op() == "constant"); };
  // Activation values to quantize, in first-use order, and their first consumer.
  std::vector<ir::Value*> acts;
  std::map<ir::Value*, ir::Node*> first_use;
  auto want_act = [&](ir::Value* v, ir::Node* user) {
    if (is_src(v->producer()) || (v->producer() && v->producer()->op() == "fake_quant")) return;
    if (!first_use.count(v)) {
      first_use[v] = user;
      acts.push_back(v);
    }
  };
  std::vector<ir::Node*> weighted;
  for (ir::Node* n : g.nodes()) {
    if (!q.act_ops.count(n->op())) continue;
    const bool has_weight = n->op() == "conv2d" || n->op() == "linear" || n->op() == "matmul";
    if (has_weight && is_src(n->input(1)->producer())) weighted.push_back(n);
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      if (has_weight && i >= 1 && (i == 2 || is_src(n->input(i)->producer()))) continue;  // weight, bias
      want_act(n->input(i), n);
    }
  }
  ir::Value* out = g.outputs().at(0);
  // Ranges of the activations on the calibration batch.
  std::map<std::string, std::pair<double, double>> range;
  {
    runtime::Executor ex(m);
    std::vector<ir::Value*> watch = acts;
    if (q.quantize_output) watch.push_back(out);
    for (ir::Value* v : watch)
      ex.add_hook(v->name(), [&range](const ir::Value& val, const at::Tensor& t) {
        range[val.name()] = {t.min().item<double>(), t.max().item<double>()};
      });
    ex.run1(calib);
  }
  for (ir::Node* n : weighted) {
    ir::Value* w = n->input(1);
    const at::Tensor& wt = m.tensor(w->producer()->attrs().s("name"));
    const int64_t axis = weight_axis(*n);
    at::Tensor amax;
    if (q.per_channel) {
      at::Tensor moved = wt.detach().transpose(0, axis).reshape({wt.size(axis), -1});
      amax = std::get<0>(moved.abs().max(1));
    } else {
      amax = wt.detach().abs().max().reshape({});
    }
    at::Tensor scale = at::clamp_min(amax / static_cast<double>(q.w_qmax), 1e-8);
    ir::Node* fq = detail::insert_fq(m, n, w, scale, at::zeros_like(scale).to(at::kInt), q.w_qmin, q.w_qmax,
                                     q.per_channel ? axis : -1, n->scope() + ".weight_quant");
    g.set_input(n, 1, fq->output());
  }
  auto quantize_value = [&](ir::Value* v, ir::Node* before, const std::string& scope) {
    auto [lo, hi] = range.at(v->name());
    at::Tensor scale, zp;
    detail::act_qparams(lo, hi, q, &scale, &zp);
    ir::Node* fq = detail::insert_fq(m, before, v, scale, zp, q.a_qmin, q.a_qmax, -1, scope);
    return fq;
  };
  for (ir::Value* v : acts) {
    ir::Node* user = first_use.at(v);
    std::vector<ir::Node*> users;
    for (ir::Node* n : g.nodes())
      for (ir::Value* in : n->inputs())
        if (in == v && n->op() != "fake_quant") users.push_back(n);
    ir::Node* fq = quantize_value(v, user, user->scope() + ".input_quant");
    for (ir::Node* u : users)
      for (size_t i = 0; i < u->inputs().size(); ++i)
        if (u->input(i) == v) g.set_input(u, i, fq->output());
  }
  if (q.quantize_output) {
    ir::Node* last = g.nodes().back();
    ir::Node* fq = quantize_value(out, last, "output_quant");
    // Move after the producer: insert_before(last) is fine only if `out` is produced earlier; rebuild
    // by placing a fresh node at the end instead.
    ir::Attrs a = fq->attrs();
    std::vector<ir::Value*> ins = fq->inputs();
    g.remove_node(fq);
    ir::Node* fq2 = g.add_node("fake_quant", ins, a, "output_quant");
    g.replace_output(0, fq2->output());
  }
  m.infer_shapes();
  m.verify();
}

/// The scale of the fake_quant that produces the graph's output (quantize_output).
inline double output_step(const ir::Model& m) {
  const ir::Node* p = m.graph.outputs().at(0)->producer();
  return m.tensor(p->input(1)->producer()->attrs().s("name")).item<double>();
}

}  // namespace mc::test
