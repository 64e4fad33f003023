#include "quantization/equalize.h"

#include <ATen/ATen.h>

#include "ir/passes/pass_util.h"

namespace mc::quant {

at::Tensor equalization_scales(const at::Tensor& r1, const at::Tensor& r2) {
  at::Tensor a = r1.to(at::kDouble), b = r2.to(at::kDouble);
  at::Tensor s = at::sqrt(a * b) / b;
  return at::where((a > 0) & (b > 0), s, at::ones_like(s));
}

namespace {

struct Pair {
  ir::Node* first;
  ir::Node* second;
};

bool static_conv(const ir::Node* n) {
  if (n->op() != "conv2d" || n->attrs().i("groups", 1) != 1) return false;
  if (ir::passes::source_tensor_name(n->input(1)).empty()) return false;
  if (n->inputs().size() > 2 && ir::passes::source_tensor_name(n->input(2)).empty()) return false;
  return true;
}

std::vector<Pair> find_pairs(const ir::Model& m) {
  std::vector<Pair> out;
  for (ir::Node* relu : m.graph.nodes()) {
    if (relu->op() != "relu") continue;
    ir::Node* c1 = relu->input(0)->producer();
    if (!c1 || !static_conv(c1) || c1->output()->users().size() != 1 || m.graph.is_graph_output(c1->output())) continue;
    const auto& users = relu->output()->users();
    if (users.size() != 1 || m.graph.is_graph_output(relu->output())) continue;
    ir::Node* c2 = users[0];
    if (!static_conv(c2) || c2->input(0) != relu->output()) continue;
    out.push_back({c1, c2});
  }
  return out;
}

}  // namespace

EqualizeSummary equalize_model(ir::Model& m, int iterations) {
  EqualizeSummary s;
  auto pairs = find_pairs(m);
  for (auto& p : pairs) s.pairs.push_back(p.first->scope() + " -> " + p.second->scope());
  for (int it = 0; it < iterations; ++it) {
    for (auto& p : pairs) {
      at::Tensor w1 = m.tensor(ir::passes::source_tensor_name(p.first->input(1)));
      at::Tensor w2 = m.tensor(ir::passes::source_tensor_name(p.second->input(1)));
      at::Tensor b1;
      if (p.first->inputs().size() > 2) b1 = m.tensor(ir::passes::source_tensor_name(p.first->input(2)));
      at::Tensor r1 = w1.abs().flatten(1).amax(1);
      at::Tensor r2 = w2.abs().transpose(0, 1).flatten(1).amax(1);
      at::Tensor sc = equalization_scales(r1, r2);
      at::Tensor s1 = sc.to(w1.scalar_type());
      at::Tensor nw1 = (w1.to(at::kDouble) / sc.view({-1, 1, 1, 1})).to(w1.scalar_type());
      at::Tensor nb1 = b1.defined() ? (b1.to(at::kDouble) / sc).to(b1.scalar_type()) : at::Tensor();
      at::Tensor nw2 = (w2.to(at::kDouble) * sc.view({1, -1, 1, 1})).to(w2.scalar_type());
      (void)s1;
      ir::passes::set_layer_params(m, p.first, nw1, nb1);
      ir::passes::set_layer_params(m, p.second, nw2, at::Tensor());
    }
  }
  return s;
}

}  // namespace mc::quant
