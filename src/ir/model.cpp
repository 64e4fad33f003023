#include "ir/model.h"

#include <ATen/ATen.h>

#include <set>

#include "common/error.h"
#include "ir/op_registry.h"
#include "ir/ops/ops.h"

namespace mc::ir {

Model Model::clone() const {
  Model m;
  m.name = name;
  m.preprocessing = preprocessing;
  m.graph = graph.clone();
  for (auto& [k, t] : tensors) m.tensors[k] = t.detach().clone();
  m.last_suffix_ = last_suffix_;
  return m;
}

const at::Tensor& Model::tensor(const std::string& n) const {
  auto it = tensors.find(n);
  if (it == tensors.end()) throw Error("model has no tensor named '" + n + "'");
  return it->second;
}

std::vector<std::string> Model::param_names() const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (Node* n : graph.nodes())
    if (n->op() == "param" && seen.insert(n->attrs().s("name")).second) out.push_back(n->attrs().s("name"));
  return out;
}

int64_t Model::num_params() const {
  int64_t total = 0;
  for (auto& n : param_names()) total += tensor(n).numel();
  return total;
}

int64_t Model::num_nonzero_params() const {
  int64_t total = 0;
  for (auto& n : param_names()) total += tensor(n).count_nonzero().item<int64_t>();
  return total;
}

std::string Model::add_tensor(const std::string& hint, at::Tensor t) {
  std::string n = hint;
  if (tensors.count(n)) {
    // Probing from ".1" each time would make k tensors with one hint (an importer's "scalar")
    // quadratic; suffixes up to the last one given were taken then.
    int& i = last_suffix_[hint];
    do n = hint + "." + std::to_string(++i);
    while (tensors.count(n));
  }
  tensors[n] = std::move(t);
  return n;
}

void Model::drop_unused_tensors() {
  std::set<std::string> used;
  for (Node* n : graph.nodes())
    if (n->op() == "param" || n->op() == "constant") used.insert(n->attrs().s("name"));
  for (auto it = tensors.begin(); it != tensors.end();) it = used.count(it->first) ? std::next(it) : tensors.erase(it);
}

Shape Model::input_shape(size_t i, int64_t batch) const {
  Shape s = graph.inputs().at(i)->shape();
  if (batch > 0 && !s.empty()) s[0] = batch;
  return s;
}

void Model::infer_shapes() {
  register_core_ops();
  for (Node* n : graph.nodes()) {
    if (n->op() == "param" || n->op() == "constant") {
      const std::string& name = n->attrs().s("name");
      auto it = tensors.find(name);
      if (it == tensors.end()) throw Error(n->describe() + " refers to tensor '" + name + "', which the model does not have");
      n->output()->set_type(ops::type_of(it->second));
    }
  }
  graph.infer_shapes();
}

void Model::verify() const {
  for (Node* n : graph.nodes()) {
    if (n->op() == "param" || n->op() == "constant") {
      const std::string& name = n->attrs().s("name");
      auto it = tensors.find(name);
      if (it == tensors.end()) throw Error("verify: " + n->describe() + " refers to missing tensor '" + name + "'");
      if (n->output()->type().has_shape && n->output()->type() != ops::type_of(it->second))
        throw Error("verify: " + n->describe() + " has type " + type_str(n->output()->type()) + " but tensor '" + name +
                    "' is " + type_str(ops::type_of(it->second)));
    }
  }
  graph.verify();
}

}  // namespace mc::ir
