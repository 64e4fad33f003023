#include "ir/passes/fold_scale_shift.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/error.h"
#include "ir/model.h"

namespace mc::ir::passes {

at::Tensor per_channel_vector(const at::Tensor& t, int64_t rank, int64_t axis, int64_t channels) {
  if (!t.defined() || t.dim() > rank) return {};
  for (int64_t j = 0; j < t.dim(); ++j) {
    const int64_t pos = rank - t.dim() + j;  // broadcasting aligns trailing dims
    const int64_t size = t.size(j);
    if (size != 1 && !(pos == axis && size == channels)) return {};
  }
  return t.detach().reshape({-1}).expand({channels}).contiguous();
}

LayerWeights fold_scale_shift_weights(const at::Tensor& weight, const at::Tensor& bias, const std::string& op,
                                      const at::Tensor& v) {
  at::NoGradGuard no_grad;
  const int64_t c = weight.size(0);
  if (v.numel() != c) throw Error("internal: fold_scale_shift: " + std::to_string(v.numel()) + " values for " +
                                  std::to_string(c) + " output channels");
  const auto f64 = at::kDouble;
  const auto dt = weight.scalar_type();
  const at::Tensor v64 = v.to(f64).reshape({c});
  std::vector<int64_t> per_out(static_cast<size_t>(weight.dim()), 1);
  per_out[0] = c;
  LayerWeights out;
  if (op == "mul" || op == "div") {
    // (conv(x, w) + b) * v = conv(x, w * v) + b * v      (v per output channel; div: v -> 1/v)
    const at::Tensor k = op == "mul" ? v64 : at::reciprocal(v64);
    out.weight = (weight.to(f64) * k.view(per_out)).to(dt);
    if (bias.defined()) out.bias = (bias.to(f64).reshape({c}) * k).to(dt);
  } else if (op == "add" || op == "sub") {
    // conv(x, w) + b + t = conv(x, w) + (b + t)          (sub: t -> -t)
    out.weight = weight;
    const at::Tensor b = bias.defined() ? bias.to(f64).reshape({c}) : at::zeros({c}, weight.options().dtype(f64));
    out.bias = (op == "add" ? b + v64 : b - v64).to(dt);
  } else {
    throw Error("internal: fold_scale_shift cannot fold op '" + op + "'");
  }
  return out;
}

namespace {

struct Match {
  Node* layer = nullptr;
  at::Tensor v;  // [C]
};

Match match(const Model& m, const Node& n) {
  const std::string& op = n.op();
  if ((op != "mul" && op != "div" && op != "add" && op != "sub") || n.inputs().size() != 2) return {};
  const bool commutes = op == "mul" || op == "add";
  for (size_t k = 0; k < (commutes ? 2u : 1u); ++k) {
    Value* h = n.input(k);
    Value* other = n.input(1 - k);
    Node* layer = h->producer();
    if (!layer || (layer->op() != "conv2d" && layer->op() != "linear") || h == other) continue;
    if (h->users().size() != 1 || m.graph.is_graph_output(h)) continue;
    if (source_tensor_name(layer->input(1)).empty()) continue;
    if (layer->inputs().size() > 2 && source_tensor_name(layer->input(2)).empty()) continue;
    const at::Tensor& w = m.tensor(source_tensor_name(layer->input(1)));
    if (!w.is_floating_point() || w.dim() < 2) continue;
    int64_t rank = 4, axis = 1;  // conv2d: N C H W
    if (layer->op() == "linear") {
      if (!h->type().has_shape || h->type().rank() < 1) continue;
      rank = h->type().rank();
      axis = rank - 1;  // features last
    }
    at::Tensor t = static_value(m, other);
    if (!t.defined() || t.scalar_type() != w.scalar_type()) continue;
    at::Tensor v = per_channel_vector(t, rank, axis, w.size(0));
    if (!v.defined()) continue;
    if (op == "div" && (v == 0).any().item<bool>()) continue;
    return {layer, v};
  }
  return {};
}

}  // namespace

bool fold_scale_shift(Model& model) {
  bool changed = false;
  // A snapshot in topological order. A fold removes the visited node and (dead) nodes before it;
  // the next elementwise node of a chain then reads the layer output directly and folds in turn.
  for (Node* n : model.graph.nodes()) {
    Match mt = match(model, *n);
    if (!mt.layer) continue;
    Node* layer = mt.layer;
    const at::Tensor& w = model.tensor(source_tensor_name(layer->input(1)));
    const at::Tensor b = layer->inputs().size() > 2 ? model.tensor(source_tensor_name(layer->input(2))) : at::Tensor();
    LayerWeights f = fold_scale_shift_weights(w, b, n->op(), mt.v);
    const bool scales = n->op() == "mul" || n->op() == "div";
    spdlog::debug("fold_scale_shift: fold {} into {}", n->describe(), layer->describe());
    set_layer_params(model, layer, scales ? f.weight : at::Tensor(), f.bias);
    Value* h = layer->output();
    std::vector<Node*> producers = input_producers(*n);
    producers.erase(std::remove(producers.begin(), producers.end(), layer), producers.end());
    model.graph.replace_all_uses(n->output(), h);
    model.graph.remove_node(n);
    remove_dead_nodes(model, std::move(producers));
    changed = true;
  }
  return changed;
}

}  // namespace mc::ir::passes
