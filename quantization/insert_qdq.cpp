#include "quantization/insert_qdq.h"

#include <ATen/ATen.h>

#include <algorithm>

#include <set>

#include "common/error.h"
#include "ir/passes/pass_util.h"

namespace mc::quant {

QuantConfig::QuantConfig() {
  weights.qscheme = "per_channel_symmetric";
  weights.dtype = "qint8";
  activations.qscheme = "per_tensor_symmetric";
  activations.dtype = "qint8";
}

namespace {

bool is_weight_layer(const std::string& op) { return op == "conv2d" || op == "linear" || op == "matmul"; }
bool shares_input_quantizer(const std::string& op) {
  return op == "max_pool2d" || op == "adaptive_max_pool2d" || op == "flatten" || op == "reshape";
}

bool is_average_pool(const std::string& op) { return op == "avg_pool2d" || op == "adaptive_avg_pool2d"; }
// Ops between an add and the integer layer it feeds (a CNN's residual add -> relu -> conv): elementwise
// activations, the ops that share their input's quantizer, average pools and concatenation.
bool leads_to_int8(const std::string& op) {
  static const std::set<std::string> kOps{"relu", "hardtanh", "sigmoid", "hardsigmoid", "hardswish", "silu", "tanh",
                                          "leaky_relu", "identity", "dropout", "stochastic_depth", "cat"};
  return kOps.count(op) || shares_input_quantizer(op) || is_average_pool(op);
}
bool is_static(const ir::Value* v) {
  return v->producer() && ir::passes::is_source(*v->producer());
}

std::string where(const SpecSource& s) {
  return s.loc.prefix() + "'" + s.key + "'";
}

class Planner {
 public:
  Planner(const ir::Model& m, const QuantConfig& c) : m_(m), cfg_(c) {}

  QuantPlan run() {
    for (auto* n : m_.graph.nodes())
      if (n->op() == "fake_quant")
        throw InputError("the model is already quantized (" + n->describe() +
                         "); quantize a float model (load the checkpoint from before the quantize stage)");
    check_patterns();
    const std::set<const ir::Node*> int8_adds = cfg_.integer_adds_only ? integer_adds() : std::set<const ir::Node*>{};
    for (auto* n : m_.graph.nodes()) {
      if (excluded(n->scope())) continue;
      const std::string& op = n->op();
      if (is_weight_layer(op)) {
        size_t nin = n->inputs().size();
        bool w_static = nin > 1 && is_static(n->input(1));
        if (w_static) add_weight(n);
        request(n, 0, -1, act_spec(n));
        if (op == "matmul" && !w_static) request(n, 1, -1, act_spec(n));
      } else if (activation_add(n) && (!cfg_.integer_adds_only || int8_adds.count(n))) {
        request(n, 0, -1, act_spec(n));
        request(n, 1, -1, act_spec(n));
      }
    }
    QuantPlan plan;
    plan.weights = std::move(weights_);
    std::set<std::string> names;
    for (auto& g : groups_) {
      if (g.values.empty()) continue;  // merged into another group
      std::string base = (g.scope.empty() ? g.values[0] : g.scope) + ".input_quant", name = base;
      for (int k = 1; names.count(name); ++k) name = base + std::to_string(k);
      names.insert(name);
      g.name = name;
      plan.activations.push_back(std::move(g));
    }
    return plan;
  }

 private:
  static bool activation_add(const ir::Node* n) {
    return n->op() == "add" && n->inputs().size() == 2 && !is_static(n->input(0)) && !is_static(n->input(1));
  }

  // `adds: integer`: the adds of two activations whose inputs are quantized: those whose output reaches a quantized
  // input (a weight layer's activation, an activation matmul's, another such add) directly or through
  // leads_to_int8 ops, the least set closed under that rule. ONNX Runtime runs those as QLinearAdd. An
  // add read only by float ops (a transformer's residual stream feeds LayerNorm, the next residual
  // add and the mean) would get QuantizeLinear -> DequantizeLinear on both inputs before a float Add:
  // conversions and rounding that buy nothing (vit_tiny: 16 of each, batch 64, 2 threads).
  std::set<const ir::Node*> integer_adds() const {
    std::set<const ir::Node*> adds;
    for (bool grew = true; grew;) {
      grew = false;
      for (const ir::Node* n : m_.graph.nodes())
        if (activation_add(n) && !excluded(n->scope()) && !adds.count(n) && reaches_int8(n->output(), adds, 0)) {
          adds.insert(n);
          grew = true;
        }
    }
    return adds;
  }

  bool reaches_int8(const ir::Value* v, const std::set<const ir::Node*>& adds, int depth) const {
    if (depth > 32) return false;
    for (const ir::Node* u : v->users()) {
      if (excluded(u->scope())) continue;
      const bool act_matmul = u->op() == "matmul" && u->inputs().size() > 1 && u->input(1) == v;
      if ((is_weight_layer(u->op()) && (u->input(0) == v || act_matmul)) || adds.count(u)) return true;
      if (leads_to_int8(u->op()) && reaches_int8(u->output(), adds, depth + 1)) return true;
    }
    return false;
  }

  bool excluded(const std::string& scope) const {
    for (auto& g : cfg_.exclude)
      if (g.matches(scope)) return true;
    return false;
  }

  void check_patterns() const {
    const std::vector<std::string> scopes = pipeline::node_scopes(m_);
    const std::string hint = " (`compress inspect MODEL` lists the scopes with their ops.)";
    pipeline::require_matches(cfg_.exclude, scopes, "quantize", cfg_.context + ".exclude", "layer scope", hint);
    for (auto& o : cfg_.layers)
      pipeline::require_matches({o.glob}, scopes, "quantize", cfg_.context + ".layers", "layer scope", hint);
  }

  QuantSpec act_spec(const ir::Node* n) const {
    QuantSpec s = cfg_.activations;
    for (auto& o : cfg_.layers)
      if (o.has_activations && o.glob.matches(n->scope())) s = o.activations;
    return s;
  }

  void add_weight(const ir::Node* n) {
    QuantSpec s = cfg_.weights;
    SpecSource src = cfg_.weights_source;
    for (auto& o : cfg_.layers)
      if (o.has_weights && o.glob.matches(n->scope())) {
        s = o.weights;
        src = o.source;
        src.key += ".weights";
      }
    const ir::Value* w = n->input(1);
    int64_t rank = static_cast<int64_t>(w->shape().size());
    if (s.per_channel()) {
      if (n->op() == "matmul") s.ch_axis = rank - 1;
      if (rank < 2 || s.ch_axis >= rank)
        throw InputError(where(src) + ": per-channel quantization (qscheme " + s.qscheme + ", ch_axis " +
                         std::to_string(s.ch_axis) + ") of the weight of " + n->describe() + ", which has shape " +
                         ir::shape_str(w->shape()) + " and no such channel axis; use qscheme per_tensor_symmetric for it " +
                         "(a `layers:` override) or a ch_axis below " + std::to_string(std::max<int64_t>(rank, 1)));
    }
    WeightQuantizer q;
    q.tensor = ir::passes::source_tensor_name(w);
    q.name = q.tensor;
    q.layer = n->output()->name();
    q.input = 1;
    q.scope = n->scope();
    q.spec = s;
    weights_.push_back(std::move(q));
  }

  // Asks for input `i` of `u` to be quantized, in group `g` (-1: its own). Returns the group.
  int request(const ir::Node* u, size_t i, int g, const QuantSpec& spec) {
    const ir::Value* v = u->input(i);
    const ir::Node* p = v->producer();
    if (p && shares_input_quantizer(p->op()) && !p->inputs().empty()) return request(p, 0, g, spec);
    // Averages are new values: the pool's output is quantized too, with its input's scale (one
    // group), as torch.ao's shared-qparams ops; ONNX Runtime runs DQ -> pool -> Q as an integer pool.
    if (p && is_average_pool(p->op()) && !p->inputs().empty()) g = request(p, 0, g, spec);
    if (p && p->op() == "cat") {
      if (g < 0) g = new_group(u, spec);
      for (size_t j = 0; j < p->inputs().size(); ++j) g = request(p, j, g, spec);
      return g;
    }
    if (is_static(v)) return g;  // a constant input is not an activation
    if (v->type().dtype != ir::DType::f32) return g;
    auto it = group_of_.find(v->name());
    if (it != group_of_.end()) {
      int have = it->second;
      if (g >= 0 && g != have) merge(have, g);
      g = group_of_.at(v->name());
    } else {
      if (g < 0) g = new_group(u, spec);
      group_of_[v->name()] = g;
      groups_[static_cast<size_t>(g)].values.push_back(v->name());
    }
    auto& edges = groups_[static_cast<size_t>(g)].edges[v->name()];
    std::pair<std::string, size_t> e{u->output()->name(), i};
    if (std::find(edges.begin(), edges.end(), e) == edges.end()) edges.push_back(e);
    return g;
  }

  int new_group(const ir::Node* u, const QuantSpec& spec) {
    ActivationQuantizer a;
    a.scope = u->scope();
    a.spec = spec;
    groups_.push_back(std::move(a));
    return static_cast<int>(groups_.size()) - 1;
  }

  // Moves group `from` into group `into` (a concat sharing a quantizer with another consumer).
  void merge(int from, int into) {
    auto& src = groups_[static_cast<size_t>(from)];
    auto& dst = groups_[static_cast<size_t>(into)];
    for (auto& v : src.values) {
      dst.values.push_back(v);
      group_of_[v] = into;
      auto& de = dst.edges[v];
      for (auto& e : src.edges[v]) de.push_back(e);
    }
    src.values.clear();
    src.edges.clear();
  }

  const ir::Model& m_;
  const QuantConfig& cfg_;
  std::vector<WeightQuantizer> weights_;
  std::vector<ActivationQuantizer> groups_;
  std::map<std::string, int> group_of_;
};

ir::Attrs fq_attrs(const QuantSpec& s, int64_t axis) {
  QRange r = qrange(s);
  ir::Attrs a;
  a.set("quant_min", r.quant_min);
  a.set("quant_max", r.quant_max);
  if (axis >= 0) a.set("axis", axis);
  return a;
}

bool same_quantizer(const ir::Node& a, const ir::Node& b) {
  return b.op() == "fake_quant" && a.input(1) == b.input(1) && a.input(2) == b.input(2) &&
         a.attrs().i("quant_min") == b.attrs().i("quant_min") && a.attrs().i("quant_max") == b.attrs().i("quant_max") &&
         a.attrs().i("axis", -1) == b.attrs().i("axis", -1);
}

// A global average pool that reads a per-tensor fake_quant and whose every user is a fake_quant
// of the same quantizer (the planner's shared group) is what ONNX Runtime runs as
// QLinearGlobalAveragePool: it gets the quantizer's scale and zero point, so the executor
// computes the same integer average (src/ir/ops/pool.cpp).
void quantize_global_pools(ir::Graph& g) {
  for (ir::Node* p : g.nodes()) {
    if (p->op() != "adaptive_avg_pool2d" || p->inputs().size() != 1) continue;
    const auto os = p->attrs().is("output_size", {});
    if (!(os == std::vector<int64_t>{1, 1} || os == std::vector<int64_t>{1})) continue;
    const ir::Node* in = p->input(0)->producer();
    if (!in || in->op() != "fake_quant" || in->attrs().i("axis", -1) != -1 || g.is_graph_output(p->output())) continue;
    const auto& users = p->output()->users();
    bool shared = !users.empty();
    for (const ir::Node* u : users) shared = shared && u->input(0) == p->output() && same_quantizer(*in, *u);
    if (!shared) continue;
    g.set_inputs(p, {p->input(0), in->input(1), in->input(2)});
    p->attrs().set("quant_min", in->attrs().i("quant_min"));
    p->attrs().set("quant_max", in->attrs().i("quant_max"));
  }
}

}  // namespace

QuantPlan plan_qdq(const ir::Model& m, const QuantConfig& cfg) { return Planner(m, cfg).run(); }

std::vector<InsertedQuantizer> insert_qdq(ir::Model& m, const QuantPlan& plan,
                                          const std::map<std::string, QParams>& act_qparams) {
  ir::Graph& g = m.graph;
  std::vector<InsertedQuantizer> out;
  auto node_of = [&](const std::string& value) -> ir::Node* {
    ir::Value* v = g.find_value(value);
    if (!v || !v->producer()) throw Error("insert_qdq: no node produces value '" + value + "'");
    return v->producer();
  };
  // scale/zero_point constants go at the top of the graph, so they precede every use.
  auto add_qparams = [&](const std::string& name, const QParams& q, const std::string& scope, InsertedQuantizer& iq) {
    iq.scale = m.add_tensor(name + ".scale", q.scale.to(at::kFloat).contiguous());
    iq.zero_point = m.add_tensor(name + ".zero_point", q.zero_point.to(at::kLong).contiguous());
    ir::Node* first = g.first_node();
    ir::Attrs sa, za;
    sa.set("name", iq.scale);
    za.set("name", iq.zero_point);
    ir::Node* s = g.insert_before(first, "constant", {}, sa, scope);
    ir::Node* z = g.insert_before(first, "constant", {}, za, scope);
    return std::make_pair(s->output(), z->output());
  };

  for (auto& w : plan.weights) {
    ir::Node* layer = node_of(w.layer);
    ir::Value* wv = layer->input(w.input);
    const at::Tensor& wt = m.tensor(w.tensor);
    auto [lo, hi] = tensor_range(w.spec, wt);
    QParams q = compute_qparams(w.spec, lo, hi);
    InsertedQuantizer iq;
    iq.name = w.name;
    auto [s, z] = add_qparams(w.name, q, w.scope, iq);
    ir::Node* fq = g.insert_before(layer, "fake_quant", {wv, s, z}, fq_attrs(w.spec, w.spec.per_channel() ? w.spec.ch_axis : -1), w.scope);
    g.set_input(layer, w.input, fq->output());
    iq.outputs.push_back(fq->output()->name());
    out.push_back(std::move(iq));
  }
  for (auto& a : plan.activations) {
    auto it = act_qparams.find(a.name);
    QParams q = it != act_qparams.end() ? it->second : QParams{at::ones({1}, at::kFloat), at::zeros({1}, at::kLong)};
    InsertedQuantizer iq;
    iq.name = a.name;
    auto [s, z] = add_qparams(a.name, q, a.scope, iq);
    for (auto& vname : a.values) {
      ir::Value* v = g.find_value(vname);
      if (!v) throw Error("insert_qdq: no value '" + vname + "'");
      // After the value's producer; a graph input's quantizer after its scale/zero_point constants.
      ir::Node* fq = g.insert_after(v->producer() ? v->producer() : z->producer(), "fake_quant", {v, s, z},
                                    fq_attrs(a.spec, -1), a.scope);
      for (auto& [consumer, idx] : a.edges.at(vname)) g.set_input(node_of(consumer), idx, fq->output());
      iq.outputs.push_back(fq->output()->name());
    }
    out.push_back(std::move(iq));
  }
  quantize_global_pools(g);
  m.infer_shapes();
  m.verify();
  return out;
}

}  // namespace mc::quant
