#include "ir/passes/fold_batch_norm.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/error.h"
#include "ir/model.h"

namespace mc::ir::passes {

LayerWeights fold_bn_weights(const at::Tensor& weight, const at::Tensor& bias, const BatchNormParams& bn) {
  at::NoGradGuard no_grad;
  const int64_t c = weight.size(0);
  for (const at::Tensor* t : {&bn.gamma, &bn.beta, &bn.mean, &bn.var})
    if (t->numel() != c) throw Error("internal: batch_norm parameter of " + std::to_string(t->numel()) +
                                     " elements for " + std::to_string(c) + " output channels");
  const auto f64 = at::kDouble;
  // y = gamma * (conv(x, w) + b - mean) / sqrt(var + eps) + beta
  //   = conv(x, w * s) + (b - mean) * s + beta,        s = gamma / sqrt(var + eps), per channel c
  // so  w'[c] = w[c] * s[c],   b'[c] = (b[c] - mean[c]) * s[c] + beta[c]
  const at::Tensor s = bn.gamma.to(f64).reshape({c}) / at::sqrt(bn.var.to(f64).reshape({c}) + bn.eps);
  std::vector<int64_t> per_out(static_cast<size_t>(weight.dim()), 1);
  per_out[0] = c;
  const at::Tensor b = bias.defined() ? bias.to(f64).reshape({c}) : at::zeros({c}, weight.options().dtype(f64));
  LayerWeights out;
  out.weight = (weight.to(f64) * s.view(per_out)).to(weight.scalar_type());
  out.bias = ((b - bn.mean.to(f64).reshape({c})) * s + bn.beta.to(f64).reshape({c})).to(weight.scalar_type());
  return out;
}

namespace {

// The layer whose only consumer is `bn` (as its input 0), or nullptr.
Node* foldable_layer(const Model& m, const Node& bn) {
  Value* h = bn.input(0);
  Node* layer = h->producer();
  if (!layer || (layer->op() != "conv2d" && layer->op() != "linear")) return nullptr;
  if (h->users().size() != 1 || m.graph.is_graph_output(h)) return nullptr;
  if (std::count(bn.inputs().begin(), bn.inputs().end(), h) != 1) return nullptr;
  if (layer->op() == "linear" && (!h->type().has_shape || h->type().rank() != 2)) return nullptr;
  if (source_tensor_name(layer->input(1)).empty()) return nullptr;
  if (layer->inputs().size() > 2 && source_tensor_name(layer->input(2)).empty()) return nullptr;
  return layer;
}

bool fold_one(Model& m, Node* bn, const std::function<bool(const Node& layer)>& keep) {
  Node* layer = foldable_layer(m, *bn);
  if (!layer || (keep && keep(*layer))) return false;
  const at::Tensor& w = m.tensor(source_tensor_name(layer->input(1)));
  if (!w.is_floating_point() || w.dim() < 2) return false;
  BatchNormParams p;
  at::Tensor* fields[] = {&p.gamma, &p.beta, &p.mean, &p.var};
  for (size_t i = 0; i < 4; ++i) {
    *fields[i] = static_value(m, bn->input(i + 1));
    if (!fields[i]->defined() || !fields[i]->is_floating_point() || fields[i]->numel() != w.size(0)) return false;
  }
  p.eps = bn->attrs().f("eps", 1e-5);
  at::Tensor b = layer->inputs().size() > 2 ? m.tensor(source_tensor_name(layer->input(2))) : at::Tensor();
  LayerWeights folded = fold_bn_weights(w, b, p);

  spdlog::debug("fold_batch_norm: fold {} into {}", bn->describe(), layer->describe());
  set_layer_params(m, layer, folded.weight, folded.bias);
  Value* h = bn->input(0);
  std::vector<Node*> producers = input_producers(*bn);
  producers.erase(std::remove(producers.begin(), producers.end(), layer), producers.end());
  m.graph.replace_all_uses(bn->output(), h);
  m.graph.remove_node(bn);
  remove_dead_nodes(m, std::move(producers));
  return true;
}

}  // namespace

bool fold_batch_norm(Model& model, const std::function<bool(const Node& layer)>& keep) {
  bool changed = false;
  // A snapshot in topological order; a fold removes the visited batch_norm and nodes before it.
  for (Node* n : model.graph.nodes())
    if (n->op() == "batch_norm" && fold_one(model, n, keep)) changed = true;
  return changed;
}

}  // namespace mc::ir::passes
