#include "train/modifier.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "common/error.h"
#include "train/optimizer.h"

namespace mc::train {

double TrainContext::lr() const { return optimizer ? optimizer->lr() : 0.0; }

double TrainContext::progress() const {
  if (total_steps <= 0) return 0.0;
  return std::clamp(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0);
}

int TrainContext::add_hook(const std::string& value, runtime::ValueHook hook) {
  const int id = next_hook_++;
  const int on_executor = executor ? executor->add_hook(value, hook) : -1;
  hooks_.push_back({id, value, std::move(hook), on_executor});
  return id;
}

void TrainContext::remove_hook(int id) {
  auto it = std::find_if(hooks_.begin(), hooks_.end(), [id](const Hook& h) { return h.id == id; });
  if (it == hooks_.end()) return;
  if (executor && it->executor_hook >= 0) executor->remove_hook(it->executor_hook);
  hooks_.erase(it);
}

void TrainContext::set_executor(runtime::Executor* e) {
  executor = e;
  for (auto& h : hooks_) h.executor_hook = e ? e->add_hook(h.value, h.fn) : -1;
}

Modifier::~Modifier() = default;
std::string Modifier::name() const { return "modifier"; }
void Modifier::on_train_begin(TrainContext&) {}
void Modifier::on_epoch_begin(TrainContext&, int64_t) {}
at::Tensor Modifier::extra_loss(TrainContext&, const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  return at::Tensor();
}
double Modifier::task_loss_weight(TrainContext&) { return 1.0; }
std::vector<std::pair<std::string, at::Tensor>> Modifier::extra_parameters() { return {}; }
void Modifier::on_after_backward(TrainContext&) {}
void Modifier::on_step_end(TrainContext&) {}
void Modifier::on_epoch_end(TrainContext&, int64_t) {}
void Modifier::on_train_end(TrainContext&) {}
std::optional<ModifierState> Modifier::pending_state() const { return std::nullopt; }
std::string Modifier::step_trace() const { return ""; }

std::string mask_digest(const std::map<std::string, at::Tensor>& masks) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  int64_t kept = 0, total = 0;
  for (const auto& [name, mask] : masks) {
    mix(reinterpret_cast<const uint8_t*>(name.data()), name.size() + 1);  // the name and its terminator
    at::Tensor keep = mask.detach().ne(0).to(at::kCPU, at::kByte).contiguous();
    mix(keep.data_ptr<uint8_t>(), static_cast<size_t>(keep.numel()));
    kept += keep.sum().item<int64_t>();
    total += keep.numel();
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::to_string(kept) + "/" + std::to_string(total) + ":" + hex;
}

// ---- MaskModifier ----------------------------------------------------------------------------------

MaskModifier::MaskModifier(std::map<std::string, at::Tensor> masks) : masks_(std::move(masks)) {}

std::shared_ptr<MaskModifier> MaskModifier::from_zeros(const ir::Model& model, const std::vector<std::string>& names) {
  at::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> masks;
  const bool all = names.empty();
  for (const auto& n : all ? model.param_names() : names) {
    const at::Tensor& t = model.tensor(n);
    at::Tensor keep = t.detach().ne(0);
    if (all && keep.all().item<bool>()) continue;
    masks[n] = keep;
  }
  return std::make_shared<MaskModifier>(std::move(masks));
}

void MaskModifier::on_train_begin(TrainContext& ctx) {
  const auto& names = ctx.optimizer->names();
  const auto& params = ctx.optimizer->params();
  for (auto& [name, mask] : masks_) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end())
      throw InputError("mask modifier: the model has no trainable parameter '" + name + "'");
    const at::Tensor& p = params[static_cast<size_t>(it - names.begin())];
    if (mask.sizes() != p.sizes())
      throw InputError("mask modifier: the mask of '" + name + "' does not have the parameter's shape");
    mask = mask.ne(0).to(p.device(), p.scalar_type());
  }
  apply(ctx, /*to_grads=*/false);
}

void MaskModifier::apply(TrainContext& ctx, bool to_grads) {
  at::NoGradGuard no_grad;
  const auto& names = ctx.optimizer->names();
  const auto& params = ctx.optimizer->params();
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = masks_.find(names[i]);
    if (it == masks_.end()) continue;
    const at::Tensor& p = params[i];
    if (to_grads) {
      if (p.grad().defined()) p.grad().mul_(it->second);
    } else {
      p.mul_(it->second);
    }
  }
}

std::optional<ModifierState> MaskModifier::pending_state() const {
  ModifierState s;
  s.kind = "mask";
  for (auto& [name, mask] : masks_) s.tensors[name] = mask.detach().to(at::kCPU);
  return s;
}

std::shared_ptr<MaskModifier> MaskModifier::from_state(const ModifierState& state) {
  return std::make_shared<MaskModifier>(state.tensors);
}

void MaskModifier::on_after_backward(TrainContext& ctx) { apply(ctx, true); }
void MaskModifier::on_step_end(TrainContext& ctx) { apply(ctx, false); }

}  // namespace mc::train
