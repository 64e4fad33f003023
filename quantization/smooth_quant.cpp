#include "quantization/smooth_quant.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/passes/pass_util.h"
#include "quantization/calibrate.h"

namespace mc::quant {

using recipe::Spec;

void SmoothQuantOptions::visit(recipe::Visitor& v) {
  v.field("alpha", alpha,
          "migration strength: s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha); 0.5 splits the range evenly, "
          "larger moves more of the activation outliers into the weights",
          Spec::range(0, 1));
}

at::Tensor smoothing_scales(const at::Tensor& act_absmax, const at::Tensor& weight_absmax, double alpha) {
  at::Tensor a = act_absmax.to(at::kDouble), w = weight_absmax.to(at::kDouble);
  at::Tensor s = at::pow(a, alpha) / at::pow(w, 1.0 - alpha);
  return at::where((a > 0) & (w > 0), s, at::ones_like(s)).to(at::kFloat);
}

namespace {

bool excluded(const std::vector<pipeline::ScopeGlob>& exclude, const std::string& scope) {
  for (const auto& g : exclude)
    if (g.matches(scope)) return true;
  return false;
}

std::string scope_of(const ir::Node& n) { return n.scope().empty() ? n.output()->name() : n.scope(); }

// The parameter tensor behind input `i` of `n`, or "" when it is not a param read by `n` alone.
std::string own_param(const ir::Model& m, const ir::Node& n, size_t i) {
  if (n.inputs().size() <= i) return "";
  const ir::Node* p = n.input(i)->producer();
  if (!p || p->op() != "param" || n.input(i)->users().size() != 1) return "";
  const std::string& t = p->attrs().s("name");
  return m.graph.tensor_refs(t).size() == 1 ? t : "";
}

struct Group {
  ir::Node* norm;
  std::vector<ir::Node*> linears;
  std::string weight, bias;  // the norm's parameters ("" bias when it has none)
};

// Ops between a LayerNorm and a linear that keep every value in its last-dim channel: a transpose
// or permute that leaves the last dim in place (TorchScript's attention reads [T, B, C]), a reshape
// or flatten keeping the last dim's size (rows stay rows), dropout and identity (inference).
bool keeps_last_dim(const ir::Node& n) {
  const std::string& op = n.op();
  if (n.inputs().empty()) return false;
  const auto& in = n.input(0)->shape();
  const auto& out = n.output()->shape();
  if (in.empty() || out.empty()) return false;
  const int64_t last = static_cast<int64_t>(in.size()) - 1;
  if (op == "dropout" || op == "identity") return true;
  if (op == "transpose") {
    auto wrap = [&](int64_t d) { return d < 0 ? d + last + 1 : d; };
    return wrap(n.attrs().i("dim0")) != last && wrap(n.attrs().i("dim1")) != last;
  }
  if (op == "permute") {
    const auto dims = n.attrs().is("dims");
    return !dims.empty() && (dims.back() == last || dims.back() == -1);
  }
  if (op == "reshape" || op == "flatten") return out.back() == in.back();
  return false;
}

// The value a linear's input comes from through keeps_last_dim ops that it alone reads.
const ir::Value* through_shape_ops(const ir::Value* v) {
  while (v->producer() && keeps_last_dim(*v->producer()) && v->users().size() == 1) v = v->producer()->input(0);
  return v;
}

// Whether every reader of `v` (through keeps_last_dim ops) is a smoothable linear; else why not.
std::string readers_problem(const ir::Value* v, const std::vector<pipeline::ScopeGlob>& exclude) {
  for (const ir::Node* u : v->users()) {
    if (keeps_last_dim(*u) && u->input(0) == v) {
      std::string why = readers_problem(u->output(), exclude);
      if (!why.empty()) return why;
      continue;
    }
    const bool smoothable = u->op() == "linear" && u->input(0) == v && u->inputs().size() > 1 && u->input(1)->producer() &&
                            u->input(1)->producer()->op() == "param" && !excluded(exclude, u->scope());
    if (!smoothable)
      return "its LayerNorm is also read by " + u->op() + " (" + scope_of(*u) + ")" +
             (u->op() == "linear" ? ", which is excluded or has a computed weight" : "") +
             ", which would see the rescaled values";
  }
  return "";
}

// LayerNorm -> linear groups where folding 1/s into the norm is exact; every other linear gets a
// reason in `skipped` (keyed by scope; a second linear of one scope by "scope (output value)").
std::vector<Group> find_groups(const ir::Model& m, const std::vector<pipeline::ScopeGlob>& exclude,
                               std::map<std::string, std::string>& skipped) {
  std::vector<Group> groups;
  for (ir::Node* n : m.graph.nodes()) {
    if (n->op() != "linear" || excluded(exclude, n->scope())) continue;
    const ir::Value* src = through_shape_ops(n->input(0));
    const ir::Node* p = src->producer();
    if (!p || p->op() != "layer_norm") {
      std::string key = scope_of(*n);
      if (skipped.count(key)) key += " (" + n->output()->name() + ")";
      const ir::Node* direct = n->input(0)->producer();
      skipped[key] = "input from " + (direct ? direct->op() + " (" + scope_of(*direct) + ")" : std::string("the graph input")) +
                     ", not a LayerNorm to fold 1/s into";
      continue;
    }
    Group* g = nullptr;
    for (auto& have : groups)
      if (have.norm == p) g = &have;
    if (!g) {
      groups.push_back({const_cast<ir::Node*>(p), {}, "", ""});
      g = &groups.back();
    }
    g->linears.push_back(n);
  }
  std::vector<Group> ok;
  for (Group& g : groups) {
    const ir::Node& ln = *g.norm;
    std::string why;
    const auto ns = ln.attrs().is("normalized_shape", {});
    g.weight = own_param(m, ln, 1);
    g.bias = ln.inputs().size() > 2 ? own_param(m, ln, 2) : "";
    if (ns.size() != 1) why = "its LayerNorm normalizes over " + std::to_string(ns.size()) + " dimensions, not the channels alone";
    else if (g.weight.empty()) why = "its LayerNorm has no weight of its own (a param read by it alone) to fold 1/s into";
    else if (ln.inputs().size() > 2 && g.bias.empty()) why = "its LayerNorm's bias is not a param of its own";
    if (why.empty()) why = readers_problem(ln.output(), exclude);
    if (!why.empty()) {
      for (const ir::Node* l : g.linears) skipped[scope_of(*l)] = why;
      continue;
    }
    ok.push_back(std::move(g));
  }
  return ok;
}

}  // namespace

SmoothQuantSummary smooth_quant(ir::Model& m, data::DataLoader& loader, const SmoothQuantOptions& o,
                                const std::vector<pipeline::ScopeGlob>& exclude, int64_t max_samples) {
  SmoothQuantSummary s;
  std::vector<Group> groups = find_groups(m, exclude, s.skipped);
  if (groups.empty()) return s;
  std::vector<std::string> values;
  for (const Group& g : groups) values.push_back(g.norm->output()->name());
  auto [act, samples] = channel_absmax(m, values, loader, max_samples);
  s.samples = samples;
  for (const Group& g : groups) {
    const at::Tensor& x = act.at(g.norm->output()->name());
    at::Tensor wmax;
    for (const ir::Node* l : g.linears) {
      const at::Tensor w = m.tensor(ir::passes::source_tensor_name(l->input(1))).detach().abs().amax(0);
      wmax = wmax.defined() ? at::maximum(wmax, w) : w;
    }
    const at::Tensor sc = smoothing_scales(x, wmax, o.alpha);
    m.tensors[g.weight] = (m.tensor(g.weight).detach() / sc).contiguous();
    if (!g.bias.empty()) m.tensors[g.bias] = (m.tensor(g.bias).detach() / sc).contiguous();
    SmoothedNorm row;
    row.norm = scope_of(*g.norm);
    for (const ir::Node* l : g.linears) {
      const std::string w = ir::passes::source_tensor_name(l->input(1));
      m.tensors[w] = (m.tensor(w).detach() * sc.unsqueeze(0)).contiguous();
      row.layers.push_back(scope_of(*l));
    }
    row.min_scale = sc.min().item<double>();
    row.max_scale = sc.max().item<double>();
    row.act_max_before = x.max().item<double>();
    row.act_max_after = (x / sc).max().item<double>();
    s.smoothed.push_back(std::move(row));
  }
  return s;
}

}  // namespace mc::quant
