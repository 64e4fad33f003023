#include "pruning/magnitude.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"

namespace mc::prune {

int64_t prune_count(int64_t numel, double sparsity) {
  return static_cast<int64_t>(std::nearbyint(sparsity * static_cast<double>(numel)));  // FE_TONEAREST: half to even
}

namespace {
/// Keep-mask of a flat score vector with its k smallest entries dropped (torch's L1Unstructured).
at::Tensor drop_smallest(const at::Tensor& scores, int64_t k) {
  at::Tensor keep = at::ones_like(scores, scores.options().dtype(at::kBool));
  if (k > 0) keep.index_fill_(0, std::get<1>(at::topk(scores, k, 0, /*largest=*/false)), false);
  return keep;
}
}  // namespace

at::Tensor magnitude_mask(const at::Tensor& w, double sparsity) {
  at::NoGradGuard no_grad;
  const at::Tensor scores = w.detach().abs().reshape({-1});
  return drop_smallest(scores, prune_count(scores.numel(), sparsity)).view(w.sizes());
}

std::vector<at::Tensor> global_magnitude_masks(const std::vector<at::Tensor>& ws, double sparsity) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (const auto& w : ws) flat.push_back(w.detach().abs().reshape({-1}));
  if (flat.empty()) return {};
  const at::Tensor scores = at::cat(flat);
  const at::Tensor keep = drop_smallest(scores, prune_count(scores.numel(), sparsity));
  std::vector<at::Tensor> out;
  int64_t offset = 0;
  for (const auto& w : ws) {
    out.push_back(keep.narrow(0, offset, w.numel()).view(w.sizes()).clone());
    offset += w.numel();
  }
  return out;
}

std::map<std::string, at::Tensor> magnitude_masks(const ir::Model& model,
                                                  const std::vector<pipeline::WeightLayer>& weights,
                                                  const SparsityTargets& targets) {
  if (targets.layer.size() != weights.size()) throw Error("internal: magnitude_masks: one target per weight expected");
  std::map<std::string, at::Tensor> masks;
  std::vector<at::Tensor> global_ws;
  std::vector<std::string> global_names;
  for (size_t i = 0; i < weights.size(); ++i) {
    const at::Tensor& w = model.tensor(weights[i].param);
    if (targets.layer[i] >= 0.0) {
      masks[weights[i].param] = magnitude_mask(w, targets.layer[i]);
    } else {
      global_ws.push_back(w);
      global_names.push_back(weights[i].param);
    }
  }
  auto global = global_magnitude_masks(global_ws, targets.global);
  for (size_t i = 0; i < global.size(); ++i) masks[global_names[i]] = global[i];
  return masks;
}

void apply_masks(ir::Model& model, const std::map<std::string, at::Tensor>& masks) {
  at::NoGradGuard no_grad;
  for (const auto& [name, keep] : masks) {
    at::Tensor& t = model.tensors.at(name);
    t.mul_(keep.to(t.device(), t.scalar_type()));
  }
}

double sparsity_of(const at::Tensor& t) {
  if (t.numel() == 0) return 0.0;
  return 1.0 - static_cast<double>(t.count_nonzero().item<int64_t>()) / static_cast<double>(t.numel());
}

}  // namespace mc::prune
