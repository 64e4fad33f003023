#include "ir/passes/remove_identities.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "ir/model.h"

namespace mc::ir::passes {

bool is_identity_reshape(const Shape& in, const std::vector<int64_t>& target) {
  if (target.size() != in.size()) return false;
  const bool infers = std::count(target.begin(), target.end(), -1) > 0;
  for (size_t i = 0; i < target.size(); ++i) {
    const int64_t s = target[i];
    if (s == 0 || s == -1) continue;  // copies dim i / inferred: every other dim is fixed to in[], so -1 = in[i]
    if (s != in[i]) return false;
    // A literal batch size holds at the declared batch only; with a -1 elsewhere another batch
    // size would be moved into that dim instead of failing, so the reshape is no identity.
    if (i == 0 && infers) return false;
  }
  return true;
}

namespace {
int64_t wrap(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }
}  // namespace

bool is_pass_through(const Node& n) {
  const std::string& op = n.op();
  if (n.inputs().size() != 1 || n.outputs().size() != 1) return false;
  if (op == "identity" || op == "dropout" || op == "stochastic_depth") return true;
  const TensorType& in = n.input(0)->type();
  if (!in.has_shape) return false;
  if (op == "reshape") return is_identity_reshape(in.shape, n.attrs().is("shape"));
  if (op == "flatten") {  // a 0-d input becomes [1]
    return in.rank() > 0 &&
           wrap(n.attrs().i("start_dim", 0), in.rank()) == wrap(n.attrs().i("end_dim", -1), in.rank());
  }
  if (op == "permute") {
    const auto& dims = n.attrs().is("dims");
    if (static_cast<int64_t>(dims.size()) != in.rank()) return false;
    for (size_t i = 0; i < dims.size(); ++i)
      if (wrap(dims[i], in.rank()) != static_cast<int64_t>(i)) return false;
    return true;
  }
  return false;
}

bool remove_identities(Model& model) {
  Graph& g = model.graph;
  bool changed = false;
  for (Node* n : g.nodes()) {  // a snapshot; only the visited node is removed
    if (!is_pass_through(*n)) continue;
    Value* in = n->input(0);
    Value* out = n->output();
    if (in->is_graph_input() && g.is_graph_output(out)) continue;
    if (in->type().has_shape && out->type().has_shape && in->type() != out->type()) continue;  // defensive
    spdlog::debug("remove_identities: remove {}", n->describe());
    g.replace_all_uses(out, in);
    g.remove_node(n);
    changed = true;
  }
  return changed;
}

}  // namespace mc::ir::passes
