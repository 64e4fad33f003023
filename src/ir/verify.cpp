// Graph::verify(): SSA, topological order, use lists, op schemas and shapes.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "ir/graph.h"
#include "ir/op_registry.h"

namespace mc::ir {

void Graph::verify() const {
  register_core_ops();
  auto& reg = OpRegistry::instance();
  std::unordered_set<const Value*> defined;
  std::unordered_set<std::string> names;
  auto define = [&](const Value* v, const std::string& where) {
    if (!names.insert(v->name()).second) throw Error("verify: value '%" + v->name() + "' is defined twice (" + where + ")");
    defined.insert(v);
  };
  for (const Value* v : inputs_) define(v, "graph input");
  std::unordered_map<const Value*, std::vector<const Node*>> uses;
  count_visits(nodes_.size());
  for (auto& np : nodes_) {
    const Node& n = *np;
    for (const Value* v : n.inputs()) {
      if (!defined.count(v))
        throw Error("verify: " + n.describe() + " uses '%" + v->name() + "' before it is defined (not in topological order)");
      uses[v].push_back(&n);
    }
    check_schema(n);
    if (n.refers_to_tensor()) {
      const auto& refs = tensor_refs(n.attrs().s("name", ""));
      if (std::find(refs.begin(), refs.end(), &n) == refs.end())
        throw Error("verify: the 'name' of " + n.describe() + " was changed in place (use Graph::set_tensor_name)");
    }
    for (size_t i = 0; i < n.outputs().size(); ++i) {
      const Value* o = n.outputs()[i];
      if (o->producer() != &n || o->output_index() != i)
        throw Error("verify: output '%" + o->name() + "' of " + n.describe() + " has a wrong producer link");
      define(o, n.describe());
    }
    // Shapes: recompute and compare.
    const OpDef& def = reg.get(n);
    if (def.shape) {
      std::vector<TensorType> in;
      bool known = true;
      for (const Value* v : n.inputs()) {
        known = known && v->type().has_shape;
        in.push_back(v->type());
      }
      if (known) {
        std::vector<TensorType> out;
        try {
          out = def.shape(n, in);
        } catch (const Error& e) {
          throw Error("verify: " + n.describe() + ": " + e.what());
        }
        for (size_t i = 0; i < out.size() && i < n.outputs().size(); ++i) {
          const TensorType& have = n.outputs()[i]->type();
          if (have.has_shape && have != out[i])
            throw Error("verify: " + n.describe() + " output '%" + n.outputs()[i]->name() + "' has type " +
                        type_str(have) + " but its inputs give " + type_str(out[i]));
        }
      }
    }
  }
  for (const Value* o : outputs_)
    if (!defined.count(o)) throw Error("verify: graph output '%" + o->name() + "' is not defined");
  // Use lists must match the actual uses.
  for (auto& vp : values_) {
    const Value* v = vp.second.get();
    std::vector<const Node*> have(v->users().begin(), v->users().end());
    std::vector<const Node*> want = uses[v];
    std::sort(have.begin(), have.end());
    std::sort(want.begin(), want.end());
    if (have != want) throw Error("verify: use list of '%" + v->name() + "' does not match its uses");
  }
}

}  // namespace mc::ir
