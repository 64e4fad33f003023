#include "pruning/importance.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "common/error.h"

namespace mc::prune {

Criterion parse_criterion(const std::string& s) {
  if (s == "l1") return Criterion::l1;
  if (s == "l2") return Criterion::l2;
  if (s == "fpgm") return Criterion::fpgm;
  if (s == "bn_scale") return Criterion::bn_scale;
  if (s == "taylor") return Criterion::taylor;
  throw InputError("unknown pruning criterion '" + s + "' (expected l1, l2, fpgm, bn_scale or taylor)");
}

namespace {
bool is_weight_layer(const Member& m) {
  const std::string& op = m.node->op();
  return (op == "conv2d" || op == "linear" || op == "matmul" || op == "embedding") && m.role != Role::stat;
}
bool is_bn_scale(const Member& m) { return m.node->op() == "batch_norm" && m.role == Role::out && m.node->input(1)->producer() &&
                                           m.node->input(1)->producer()->attrs().s("name", "") == m.tensor; }

// Per-index reductions of a tensor along `dim`, cached per (tensor, dim).
class SliceSums {
 public:
  explicit SliceSums(const ir::Model& m) : model_(m) {}
  double get(const std::string& tensor, int64_t dim, int64_t index, int p, const at::Tensor* grad = nullptr) {
    auto key = std::make_tuple(tensor, dim, p, grad != nullptr);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      at::Tensor t = model_.tensor(tensor).detach().to(at::kDouble);
      if (grad) t = (t * grad->detach().to(at::kDouble)).abs();
      at::Tensor moved = t.movedim(dim, 0).reshape({t.size(dim), -1});
      at::Tensor r = p == 1 ? moved.abs().sum(1) : moved.pow(2).sum(1);
      it = cache_.emplace(key, r.contiguous()).first;
    }
    return it->second[index].item<double>();
  }

 private:
  const ir::Model& model_;
  std::map<std::tuple<std::string, int64_t, int, bool>, at::Tensor> cache_;
};
}  // namespace

std::vector<double> unit_importance(const ir::Model& model, const Group& group, Criterion c,
                                    const std::map<std::string, at::Tensor>& grads) {
  std::vector<double> scores;
  SliceSums sums(model);
  if (c == Criterion::fpgm) {
    // Rows: concatenated producer filters of each unit.
    std::vector<at::Tensor> rows;
    for (const Unit& u : group.units) {
      std::vector<at::Tensor> parts;
      for (const Member& m : u.members)
        if (is_weight_layer(m) && m.role == Role::out && model.tensor(m.tensor).dim() >= 2)
          parts.push_back(model.tensor(m.tensor).detach().select(m.dim, m.index).reshape({-1}).to(at::kDouble));
      rows.push_back(at::cat(parts));
    }
    at::Tensor x = at::stack(rows);
    at::Tensor d = at::cdist(x.unsqueeze(0), x.unsqueeze(0)).squeeze(0).sum(1);
    for (int64_t i = 0; i < d.size(0); ++i) scores.push_back(d[i].item<double>());
    return scores;
  }
  for (const Unit& u : group.units) {
    double s = 0;
    bool any = false;
    for (const Member& m : u.members) {
      switch (c) {
        case Criterion::l1:
        case Criterion::l2:
          if (is_weight_layer(m) && model.tensor(m.tensor).dim() >= 2) {
            s += sums.get(m.tensor, m.dim, m.index, c == Criterion::l1 ? 1 : 2);
            any = true;
          }
          break;
        case Criterion::bn_scale:
          if (is_bn_scale(m)) {
            s += sums.get(m.tensor, m.dim, m.index, 1);
            any = true;
          }
          break;
        case Criterion::taylor: {
          if (m.role == Role::stat) break;
          auto g = grads.find(m.tensor);
          if (g == grads.end()) break;
          s += sums.get(m.tensor, m.dim, m.index, 1, &g->second);
          any = true;
          break;
        }
        case Criterion::fpgm: break;
      }
    }
    if (c == Criterion::l2) s = std::sqrt(s);
    scores.push_back(any ? s : std::numeric_limits<double>::infinity());
  }
  return scores;
}

}  // namespace mc::prune
