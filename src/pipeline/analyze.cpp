#include "pipeline/analyze.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "ir/passes/dead_code_elimination.h"
#include "ir/weight_param.h"
#include "pipeline/layer_select.h"
#include "runtime/executor.h"

namespace mc::pipeline {

namespace {

bool is_quantizer(const std::string& op) {
  return op == "fake_quant" || op == "dynamic_quant" || op == "binary_quant" || op == "ternary_quant";
}

bool is_layer_op(const std::string& op) { return op == "conv2d" || op == "linear" || op == "matmul"; }

// Scope -> the first weight-layer node of that scope.
std::map<std::string, ir::Node*> layer_nodes(const ir::Model& m) {
  std::map<std::string, ir::Node*> out;
  for (ir::Node* n : m.graph.nodes())
    if (is_layer_op(n->op()) && ir::weight_param(*n)) out.emplace(layer_scope(*n), n);
  return out;
}

// Index of the weight input of a layer node (a matmul's param operand may be either).
size_t weight_input(const ir::Node& n) {
  if (n.op() != "matmul") return 1;
  const ir::Node* p = ir::param_producer(n.input(1));
  return p && p->op() == "param" ? 1 : 0;
}
size_t activation_input(const ir::Node& n) { return n.op() == "matmul" ? 1 - weight_input(n) : 0; }

// The value behind any chain of quantizer nodes.
ir::Value* past_quantizers(ir::Value* v) {
  while (v->producer() && is_quantizer(v->producer()->op())) v = v->producer()->input(0);
  return v;
}

const at::Tensor& weight_of(const ir::Model& m, const ir::Node& n) {
  return m.tensor(ir::weight_param(n)->attrs().s("name"));
}

// Why layer `scope` of F cannot be reverted in C, or "" when it can.
std::string not_revertible(const ir::Model& f, const ir::Node& fn, const ir::Model& c,
                           const std::map<std::string, ir::Node*>& c_nodes, const std::string& scope) {
  auto it = c_nodes.find(scope);
  if (it == c_nodes.end() || it->second->op() != fn.op())
    return "not in the compressed model as a " + fn.op() +
           " layer (removed or replaced, e.g. by depth pruning or decomposition): the recipe changes the graph";
  const auto fs = weight_of(f, fn).sizes(), cs = weight_of(c, *it->second).sizes();
  if (fs != cs)
    return "weight shape changed from " + c10::str(fs) + " to " + c10::str(cs) +
           " (channel pruning): the float layer does not fit the compressed graph";
  return "";
}

// True when C computes layer `cn` exactly as F does: no quantizer on its inputs and F's param values.
bool unchanged(const ir::Model& f, const ir::Model& c, const ir::Node& cn) {
  for (size_t i = 0; i < cn.inputs().size(); ++i) {
    const ir::Node* p = cn.input(i)->producer();
    if (!p) continue;
    if (is_quantizer(p->op())) return false;
    if (p->op() != "param") continue;
    const std::string& name = p->attrs().s("name");
    if (!f.tensors.count(name) || !f.tensor(name).equal(c.tensor(name))) return false;
  }
  return true;
}

double sum_sq(const at::Tensor& t) { return t.to(at::kDouble).square().sum().item<double>(); }
double sum_sq_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).square().sum().item<double>();
}

double top1(ir::Model& m, const std::vector<data::Batch>& batches) {
  runtime::Executor ex(m);
  int64_t correct = 0, count = 0;
  for (const data::Batch& b : batches) {
    at::Tensor logits = ex.run(b.inputs()).at(0);
    correct += logits.argmax(1).eq(b.labels).sum().item<int64_t>();
    count += b.labels.size(0);
  }
  return count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0;
}

// Sum over the batches of |y|^2 and |y - y_c|^2 of one value of a reference and a compared model.
struct Accumulator {
  double signal = 0.0, noise = 0.0;
  bool shape_mismatch = false;
  void add(const at::Tensor& ref, const at::Tensor& y) {
    if (ref.sizes() != y.sizes()) {
      shape_mismatch = true;
      return;
    }
    signal += sum_sq(ref);
    noise += sum_sq_diff(ref, y);
  }
  std::optional<double> db() const {
    if (shape_mismatch) return std::nullopt;
    return sqnr_db(signal, noise);
  }
};

// One model compared with F on the SQNR batches: hooks on the outputs of some layers.
struct Probe {
  std::unique_ptr<ir::Model> model;
  std::unique_ptr<runtime::Executor> ex;
  std::map<size_t, Accumulator> acc;  // layer index -> accumulator
  std::map<size_t, at::Tensor> seen;  // this batch's outputs
  Accumulator output;                 // the model's output 0
};

std::unique_ptr<Probe> make_probe(ir::Model m, const std::vector<std::pair<size_t, std::string>>& values) {
  auto p = std::make_unique<Probe>();
  p->model = std::make_unique<ir::Model>(std::move(m));
  p->ex = std::make_unique<runtime::Executor>(*p->model);
  for (const auto& [i, name] : values) {
    Probe* raw = p.get();
    const size_t index = i;
    p->ex->add_hook(name, [raw, index](const ir::Value&, const at::Tensor& t) { raw->seen[index] = t.detach(); });
  }
  return p;
}

// The output value of layer `scope` in `m` (empty when it has none).
std::string output_of(const std::map<std::string, ir::Node*>& nodes, const std::string& scope) {
  auto it = nodes.find(scope);
  return it == nodes.end() ? "" : it->second->output(0)->name();
}

std::optional<double> finite_or_null(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return std::nullopt;
  return v;
}

// Quantization that belongs to no layer: every use of a quantizer's output other than a layer's
// weight or input activation (the inputs of residual adds, also where an add shares a layer's input
// quantizer) reads the value behind it, and a quantized global pool computes the float mean. The
// uses by layers are left to revert_layers' per-layer bypass.
void bypass_unowned_quantizers(ir::Model& m) {
  for (ir::Node* n : m.graph.nodes()) {
    if (is_quantizer(n->op())) continue;
    const bool layer = is_layer_op(n->op()) && ir::weight_param(*n);
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      if (layer && (i == weight_input(*n) || i == activation_input(*n))) continue;
      ir::Value* v = past_quantizers(n->input(i));
      if (v != n->input(i)) m.graph.set_input(n, i, v);
    }
    if (n->op() == "adaptive_avg_pool2d" && n->inputs().size() == 3) {
      m.graph.set_inputs(n, {n->input(0)});
      for (const char* k : {"quant_min", "quant_max", "grad_factor"}) n->attrs().erase(k);
    }
  }
}

}  // namespace

double sqnr_db(double signal, double noise) {
  if (noise <= 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

ir::Model revert_layers(const ir::Model& compressed, const ir::Model& float_model, const std::set<std::string>& scopes,
                        bool unowned_quantizers) {
  ir::Model m = compressed.clone();
  const auto f_nodes = layer_nodes(float_model);
  const auto c_nodes = layer_nodes(m);
  if (unowned_quantizers) bypass_unowned_quantizers(m);
  for (const std::string& scope : scopes) {
    auto f = f_nodes.find(scope);
    if (f == f_nodes.end() || !not_revertible(float_model, *f->second, m, c_nodes, scope).empty()) continue;
    ir::Node* n = c_nodes.at(scope);
    for (size_t i : {weight_input(*n), activation_input(*n)}) {
      ir::Value* v = past_quantizers(n->input(i));
      if (v != n->input(i)) m.graph.set_input(n, i, v);
    }
    for (ir::Value* in : n->inputs()) {
      const ir::Node* p = in->producer();
      if (!p || p->op() != "param") continue;
      const std::string& name = p->attrs().s("name");
      auto t = float_model.tensors.find(name);
      if (t != float_model.tensors.end() && t->second.sizes() == m.tensor(name).sizes()) m.tensors[name] = t->second.clone();
    }
  }
  ir::passes::dead_code_elimination(m);
  m.infer_shapes();
  return m;
}

namespace {

// The analysed layers' rows (op, revertible or why not) into a.layers; returns every revertible layer
// of F, analysed or not, and sets a.graph_changed when some layer of F is not.
std::set<std::string> describe_layers(const ir::Model& f, const ir::Model& c, const std::vector<std::string>& layers,
                                      Analysis& a) {
  const auto f_nodes = layer_nodes(f), c_nodes = layer_nodes(c);
  std::set<std::string> revertible;
  for (const WeightLayer& l : find_weight_layers(f)) {
    const ir::Node* fn = f_nodes.count(l.scope) ? f_nodes.at(l.scope) : nullptr;
    if (fn && not_revertible(f, *fn, c, c_nodes, l.scope).empty()) revertible.insert(l.scope);
    else a.graph_changed = true;
  }
  for (const std::string& scope : layers) {
    LayerAnalysis la;
    la.scope = scope;
    const ir::Node* fn = f_nodes.at(scope);
    la.op = fn->op();
    la.note = not_revertible(f, *fn, c, c_nodes, scope);
    la.revertible = la.note.empty();
    if (la.revertible && unchanged(f, c, *c_nodes.at(scope))) la.note = "unchanged by the recipe";
    a.layers.push_back(std::move(la));
  }
  return revertible;
}

// The SQNR figures. The models compared with F, batch by batch: C itself (cumulative), C with every
// layer reverted (the revert check), and per layer C with every other layer reverted (only this
// layer; when the graph is unchanged, otherwise there is no such model).
void measure_sqnr(const ir::Model& f, const ir::Model& c, const std::vector<std::string>& layers,
                  const std::set<std::string>& revertible, const std::vector<data::Batch>& batches, Analysis& a) {
  const auto f_nodes = layer_nodes(f), c_nodes = layer_nodes(c);
  std::vector<std::pair<size_t, std::string>> f_values, c_values;
  for (size_t i = 0; i < layers.size(); ++i) {
    f_values.emplace_back(i, output_of(f_nodes, layers[i]));
    if (!output_of(c_nodes, layers[i]).empty()) c_values.emplace_back(i, output_of(c_nodes, layers[i]));
  }
  auto ref = make_probe(f.clone(), f_values);
  std::vector<std::unique_ptr<Probe>> probes;
  probes.push_back(make_probe(c.clone(), c_values));
  probes.push_back(make_probe(revert_layers(c, f, revertible, true), {}));
  std::vector<std::pair<size_t, Probe*>> only;  // layer index -> its probe
  for (size_t i = 0; i < layers.size() && !a.graph_changed; ++i) {
    if (!a.layers[i].revertible) continue;
    std::set<std::string> others = revertible;
    others.erase(layers[i]);
    ir::Model m = revert_layers(c, f, others, true);
    const std::string value = output_of(layer_nodes(m), layers[i]);
    probes.push_back(make_probe(std::move(m), {{i, value}}));
    only.emplace_back(i, probes.back().get());
  }
  for (const data::Batch& b : batches) {
    const std::vector<at::Tensor> inputs = b.inputs();
    ref->seen.clear();
    const at::Tensor y_ref = ref->ex->run(inputs).at(0);
    for (auto& p : probes) {
      p->seen.clear();
      p->output.add(y_ref, p->ex->run(inputs).at(0));
      for (const auto& [i, t] : p->seen) p->acc[i].add(ref->seen.at(i), t);
    }
    a.sqnr_samples += inputs.at(0).size(0);
  }
  for (auto& [i, acc] : probes[0]->acc) {
    a.layers[i].sqnr_cumulative_db = acc.db();
    if (!acc.db() && a.layers[i].note.empty()) a.layers[i].note = "output shape differs from the float layer's";
  }
  a.revert_check_db = probes[1]->output.db();
  for (const auto& [i, p] : only) a.layers[i].sqnr_only_db = p->acc[i].db();
  if (a.graph_changed)
    for (LayerAnalysis& la : a.layers)
      if (la.note.empty()) la.note = "no 'only this layer' figure: the recipe changes the graph elsewhere";
}

// Top-1 of F, of C, and of C with each revertible layer back in float, on the same batches.
void measure_top1(const ir::Model& f, const ir::Model& c, const std::vector<data::Batch>& batches, Analysis& a) {
  ir::Model fm = f.clone(), cm = c.clone();
  a.top1_float = top1(fm, batches);
  a.top1_compressed = top1(cm, batches);
  for (const data::Batch& b : batches) a.val_samples += b.labels.size(0);
  for (LayerAnalysis& la : a.layers)
    if (la.revertible) {
      ir::Model m = revert_layers(c, f, {la.scope});
      la.top1_reverted = top1(m, batches);
    }
}

}  // namespace

Analysis analyze_layers(const ir::Model& float_model, const ir::Model& compressed, const std::vector<std::string>& layers,
                        const AnalysisData& data) {
  Analysis a;
  const std::set<std::string> revertible = describe_layers(float_model, compressed, layers, a);
  measure_sqnr(float_model, compressed, layers, revertible, data.sqnr, a);
  measure_top1(float_model, compressed, data.val, a);
  // Worst first: the most top-1 recovered by reverting the layer, then the lowest SQNR; layers
  // that cannot be reverted after those, by SQNR; layers without any figure last, in graph order.
  std::stable_sort(a.layers.begin(), a.layers.end(), [](const LayerAnalysis& x, const LayerAnalysis& y) {
    if (x.top1_reverted.has_value() != y.top1_reverted.has_value()) return x.top1_reverted.has_value();
    if (x.top1_reverted && *x.top1_reverted != *y.top1_reverted) return *x.top1_reverted > *y.top1_reverted;
    const auto kx = x.rank_key(), ky = y.rank_key();
    if (kx && ky) return *kx < *ky;
    return kx.has_value() && !ky.has_value();
  });
  return a;
}

nlohmann::json Analysis::to_json() const {
  auto num = [](const std::optional<double>& v) -> nlohmann::json {
    auto f = finite_or_null(v);
    return f ? nlohmann::json(*f) : nlohmann::json(nullptr);
  };
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerAnalysis& l = layers[i];
    std::string note = l.note;
    for (const auto* v : {&l.sqnr_only_db, &l.sqnr_cumulative_db})
      if (*v && std::isinf(**v) && note.empty()) note = "identical to float where the SQNR is null";
    nlohmann::json r = {{"rank", i + 1},
                        {"layer", l.scope},
                        {"op", l.op},
                        {"sqnr_only_db", num(l.sqnr_only_db)},
                        {"sqnr_cumulative_db", num(l.sqnr_cumulative_db)},
                        {"top1_reverted", num(l.top1_reverted)},
                        {"recovery", l.top1_reverted ? nlohmann::json(*l.top1_reverted - top1_compressed) : nlohmann::json(nullptr)},
                        {"revertible", l.revertible}};
    if (!note.empty()) r["note"] = note;
    rows.push_back(std::move(r));
  }
  return {{"top1_float", top1_float},
          {"top1_compressed", top1_compressed},
          {"val_samples", val_samples},
          {"sqnr_samples", sqnr_samples},
          {"revert_check_db", num(revert_check_db)},
          {"revert_exact", revert_check_db && std::isinf(*revert_check_db)},
          {"graph_changed", graph_changed},
          {"ranked_by", std::string("top1_reverted, then ") + (graph_changed ? "sqnr_cumulative_db" : "sqnr_only_db")},
          {"layers", rows}};
}

}  // namespace mc::pipeline
