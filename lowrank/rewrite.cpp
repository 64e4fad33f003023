#include "lowrank/rewrite.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "ir/passes/pass_util.h"

namespace mc::lowrank {

namespace {

using ir::Node;
using ir::Value;
using Pair = std::vector<int64_t>;

bool is_quantizer(const std::string& op) { return op == "fake_quant" || op == "binary_quant" || op == "ternary_quant"; }

bool is_stored(const Value* v) { return v->producer() && v->producer()->refers_to_tensor(); }

// A stored tensor, or one behind a quantizer: what a layer's weight looks like.
bool is_weight_like(const Value* v) {
  const Node* p = v->producer();
  return is_stored(v) || (p && is_quantizer(p->op()) && !p->inputs().empty() && is_stored(p->input(0)));
}

// matmul: x @ W (W the right operand, input 1) unless only the left operand looks like a weight.
size_t weight_index(const Node* n) {
  if (n->op() != "matmul") return 1;
  return is_weight_like(n->input(1)) || !is_weight_like(n->input(0)) ? 1 : 0;
}

const at::Tensor& stored_weight(const ir::Model& m, const Node* n, size_t idx, int64_t dims) {
  if (n->inputs().size() <= idx) throw Error(n->describe() + ": has no weight input");
  const Node* p = n->input(idx)->producer();
  if (p && is_quantizer(p->op()))
    throw InputError(n->describe() + ": its weight is quantized (" + p->op() +
                     "); decompose before quantize (put the decompose stage before the quantize stage)");
  if (!p || !p->refers_to_tensor())
    throw InputError(n->describe() + ": its weight is not a stored tensor (" +
                     (p ? "output of op '" + p->op() + "'" : std::string("a graph input")) +
                     "); only layers with param/constant weights can be decomposed");
  const at::Tensor& w = m.tensor(p->attrs().s("name"));
  if (w.dim() != dims || !w.is_floating_point())
    throw InputError(n->describe() + ": needs a " + std::to_string(dims) + "-d floating-point weight to decompose");
  return w;
}

std::string factor_scope(const Node* n, size_t k) {
  const std::string lr = "lr" + std::to_string(k);
  return n->scope().empty() ? lr : n->scope() + "." + lr;
}

// `fc.weight` -> `fc.lr0.weight`; another name gets `.lr0` appended.
std::string factor_param_name(const std::string& weight, size_t k) {
  const std::string lr = ".lr" + std::to_string(k), suffix = ".weight";
  if (weight.size() > suffix.size() && weight.compare(weight.size() - suffix.size(), suffix.size(), suffix) == 0)
    return weight.substr(0, weight.size() - suffix.size()) + lr + suffix;
  return weight + lr;
}

// Inserts factor k (its param node, then the layer) right before `n`; returns the layer's output.
// `args` are the layer's inputs with nullptr where the new weight goes.
Value* emit_factor(ir::Model& m, Node* n, size_t k, const std::string& op, std::vector<Value*> args,
                   const at::Tensor& w, ir::Attrs attrs) {
  const std::string weight_name = n->input(weight_index(n))->producer()->attrs().s("name");
  Value* wv = ir::passes::insert_param(m, n, factor_param_name(weight_name, k), w, factor_scope(n, k));
  for (Value*& a : args)
    if (!a) a = wv;
  Node* f = m.graph.insert_before(n, op, args, std::move(attrs), factor_scope(n, k));
  ir::passes::infer_node_types(*f);
  return f->output();
}

// `y` takes over the uses of `n`'s output; `n` goes, then its weight when nothing else uses it.
void finish(ir::Model& m, Node* n, Value* y) {
  if (y->type().shape != n->output()->type().shape)
    throw Error(n->describe() + ": the factor chain gives shape " + ir::shape_str(y->type().shape) + " instead of " +
                ir::shape_str(n->output()->type().shape));
  std::vector<Node*> producers = ir::passes::input_producers(*n);
  m.graph.replace_all_uses(n->output(), y);
  m.graph.remove_node(n);
  ir::passes::remove_dead_nodes(m, std::move(producers));
}


// One conv of a factor chain: its weight, geometry, and the kernel size it must have.
struct ConvSpec {
  at::Tensor weight;
  Pair stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
  int64_t kh = 1, kw = 1;
};

Pair pair_attr(const Node* n, const char* k, int64_t dflt) {
  Pair v = n->attrs().is(k, {dflt, dflt});
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) throw InputError(n->describe() + ": attribute '" + k + "' must have 2 values");
  return v;
}

// The chain of `f.method` (table in rewrite.h) for a conv with this geometry and kernel.
std::vector<ConvSpec> conv_chain(const Node* n, const ConvFactors& f, int64_t kh, int64_t kw) {
  const Pair s = pair_attr(n, "stride", 1), p = pair_attr(n, "padding", 0), d = pair_attr(n, "dilation", 1);
  auto full = [&](const at::Tensor& w) { return ConvSpec{w, s, p, d, 1, kh, kw}; };
  auto point = [](const at::Tensor& w) { return ConvSpec{w, {1, 1}, {0, 0}, {1, 1}, 1, 1, 1}; };
  auto vertical = [&](const at::Tensor& w, int64_t g) {
    return ConvSpec{w, {s[0], 1}, {p[0], 0}, {d[0], 1}, g, kh, 1};
  };
  auto horizontal = [&](const at::Tensor& w, int64_t g) {
    return ConvSpec{w, {1, s[1]}, {0, p[1]}, {1, d[1]}, g, 1, kw};
  };
  static const size_t count[] = {2, 2, 3, 4};  // channel_svd, spatial_svd, tucker2, cp
  const auto& w = f.weights;
  if (w.size() != count[static_cast<int>(f.method)])
    throw Error(n->describe() + ": " + method_name(f.method) + " needs " +
                std::to_string(count[static_cast<int>(f.method)]) + " factor weights, got " + std::to_string(w.size()));
  switch (f.method) {
    case ConvMethod::channel_svd: return {full(w[0]), point(w[1])};
    case ConvMethod::spatial_svd: return {vertical(w[0], 1), horizontal(w[1], 1)};
    case ConvMethod::tucker2: return {point(w[0]), full(w[1]), point(w[2])};
    case ConvMethod::cp: {
      const int64_t r = w[0].dim() == 4 ? w[0].size(0) : 0;
      return {point(w[0]), vertical(w[1], r), horizontal(w[2], r), point(w[3])};
    }
  }
  return {};
}

// Each weight must take the previous one's channels, have the kernel its place wants (a depthwise
// one per channel), and the last must give the layer's N channels.
void check_chain(const Node* n, const std::vector<ConvSpec>& chain, int64_t c, int64_t out) {
  int64_t channels = c;
  for (size_t k = 0; k < chain.size(); ++k) {
    const ConvSpec& sp = chain[k];
    const at::Tensor& w = sp.weight;
    const bool ok = w.defined() && w.dim() == 4 && w.size(1) * sp.groups == channels && w.size(2) == sp.kh &&
                    w.size(3) == sp.kw && (sp.groups == 1 || w.size(0) == sp.groups);
    if (!ok)
      throw Error(n->describe() + ": factor " + std::to_string(k) + " of shape " +
                  (w.defined() ? ir::shape_str(w.sizes().vec()) : std::string("(none)")) + " does not fit (" +
                  std::to_string(channels) + " input channels, kernel " + std::to_string(sp.kh) + "x" +
                  std::to_string(sp.kw) + ", groups " + std::to_string(sp.groups) + ")");
    channels = w.size(0);
  }
  if (channels != out)
    throw Error(n->describe() + ": the factor chain ends in " + std::to_string(channels) + " channels, not " +
                std::to_string(out));
}

ir::Attrs conv_attrs(const ConvSpec& sp) {
  ir::Attrs a;
  if (sp.stride != Pair{1, 1}) a.set("stride", sp.stride);
  if (sp.padding != Pair{0, 0}) a.set("padding", sp.padding);
  if (sp.dilation != Pair{1, 1}) a.set("dilation", sp.dilation);
  if (sp.groups != 1) a.set("groups", sp.groups);
  return a;
}

}  // namespace

at::Tensor linear_weight(const ir::Model& m, const Node* n) {
  if (n->op() == "linear") return stored_weight(m, n, 1, 2);
  if (n->op() != "matmul") throw Error(n->describe() + ": not a linear or matmul node");
  const size_t idx = weight_index(n);
  const at::Tensor& w = stored_weight(m, n, idx, 2);
  return idx == 1 ? w.t() : w;  // x @ W: W is [in, out]
}

void decompose_linear(ir::Model& m, Node* n, const LinearFactors& f) {
  const at::Tensor w = linear_weight(m, n);
  const int64_t out = w.size(0), in = w.size(1);
  if (f.first.dim() != 2 || f.second.dim() != 2 || f.first.size(1) != in || f.second.size(0) != out ||
      f.second.size(1) != f.first.size(0))
    throw Error(n->describe() + ": factors of shapes [" + std::to_string(f.first.size(0)) + ", " +
                std::to_string(f.first.size(1)) + "] and [" + std::to_string(f.second.size(0)) + ", " +
                std::to_string(f.second.size(1)) + "] do not fit a [" + std::to_string(out) + ", " + std::to_string(in) +
                "] weight");
  spdlog::debug("lowrank: {} -> rank {}", n->describe(), f.first.size(0));
  Value* y = nullptr;
  if (n->op() == "linear") {
    Value* h = emit_factor(m, n, 0, "linear", {n->input(0), nullptr}, f.first, {});
    std::vector<Value*> args{h, nullptr};
    if (n->inputs().size() > 2) args.push_back(n->input(2));  // the bias goes on the last factor
    y = emit_factor(m, n, 1, "linear", args, f.second, {});
  } else if (weight_index(n) == 1) {  // x @ W = (x @ first^T) @ second^T
    Value* h = emit_factor(m, n, 0, "matmul", {n->input(0), nullptr}, f.first.t().contiguous(), {});
    y = emit_factor(m, n, 1, "matmul", {h, nullptr}, f.second.t().contiguous(), {});
  } else {  // W @ x = second @ (first @ x)
    Value* h = emit_factor(m, n, 0, "matmul", {nullptr, n->input(1)}, f.first, {});
    y = emit_factor(m, n, 1, "matmul", {nullptr, h}, f.second, {});
  }
  finish(m, n, y);
}

at::Tensor conv_weight(const ir::Model& m, const Node* n) {
  if (n->op() != "conv2d") throw Error(n->describe() + ": not a conv2d node");
  const int64_t groups = n->attrs().i("groups", 1);
  if (groups != 1)
    throw InputError(n->describe() + ": a grouped conv (groups " + std::to_string(groups) +
                     ") cannot be decomposed; only groups = 1 (exclude this layer)");
  return stored_weight(m, n, 1, 4);
}

void decompose_conv(ir::Model& m, Node* n, const ConvFactors& f) {
  const at::Tensor w = conv_weight(m, n);
  const std::vector<ConvSpec> chain = conv_chain(n, f, w.size(2), w.size(3));
  check_chain(n, chain, w.size(1), w.size(0));
  spdlog::debug("lowrank: {} -> {} chain of {} convs", n->describe(), method_name(f.method), chain.size());
  Value* x = n->input(0);
  for (size_t k = 0; k < chain.size(); ++k) {
    std::vector<Value*> args{x, nullptr};
    if (k + 1 == chain.size() && n->inputs().size() > 2) args.push_back(n->input(2));  // bias on the last
    x = emit_factor(m, n, k, "conv2d", args, chain[k].weight, conv_attrs(chain[k]));
  }
  finish(m, n, x);
}

}  // namespace mc::lowrank
