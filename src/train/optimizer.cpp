#include "train/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <sstream>

#include "common/error.h"

namespace mc::train {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void check(bool ok, const std::string& field, double value, const std::string& want) {
  if (!ok) throw InputError("optimizer." + field + " = " + num(value) + " is out of range: " + want);
}

}  // namespace

void validate(const OptimizerSpec& s) {
  if (s.type != "sgd" && s.type != "adamw")
    throw InputError("optimizer.type '" + s.type + "' is unknown (use sgd or adamw)");
  check(std::isfinite(s.lr) && s.lr > 0, "lr", s.lr, "must be > 0 (e.g. 0.1 for sgd, 1e-3 for adamw)");
  check(std::isfinite(s.weight_decay) && s.weight_decay >= 0, "weight_decay", s.weight_decay, "must be >= 0");
  if (s.type == "sgd") {
    check(s.momentum >= 0 && s.momentum < 1, "momentum", s.momentum, "must be in [0, 1)");
    if (s.nesterov && s.momentum <= 0)
      throw InputError("optimizer.nesterov needs momentum > 0 (set optimizer.momentum, e.g. 0.9)");
  } else {
    check(s.beta1 >= 0 && s.beta1 < 1, "beta1", s.beta1, "must be in [0, 1)");
    check(s.beta2 >= 0 && s.beta2 < 1, "beta2", s.beta2, "must be in [0, 1)");
    check(s.eps > 0, "eps", s.eps, "must be > 0");
  }
}

// ---- Optimizer -------------------------------------------------------------------------------------

Optimizer::Optimizer(const OptimizerSpec& spec, std::vector<at::Tensor> params, std::vector<std::string> names)
    : spec_(spec), lr_(spec.lr) {
  set_params(std::move(params), std::move(names));
}

void Optimizer::compute_decay() {
  decay_.assign(params_.size(), spec_.weight_decay);
  if (spec_.no_decay_1d)
    for (size_t i = 0; i < params_.size(); ++i)
      if (params_[i].dim() <= 1) decay_[i] = 0.0;
}

void Optimizer::set_params(std::vector<at::Tensor> params, std::vector<std::string> names) {
  if (names.empty())
    for (size_t i = 0; i < params.size(); ++i) names.push_back("param" + std::to_string(i));
  if (names.size() != params.size())
    throw Error("optimizer: " + std::to_string(params.size()) + " parameters but " + std::to_string(names.size()) + " names");
  std::map<std::string, ParamState> old;
  for (size_t i = 0; i < names_.size() && i < state_.size(); ++i) old[names_[i]] = std::move(state_[i]);
  state_.assign(params.size(), ParamState{});
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = old.find(names[i]);
    if (it == old.end()) continue;
    bool same = true;
    for (auto& [k, b] : it->second.buffers) same = same && b.sizes() == params[i].sizes();
    if (same) state_[i] = std::move(it->second);
  }
  params_ = std::move(params);
  names_ = std::move(names);
  compute_decay();
}

void Optimizer::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().reset();
}

std::map<std::string, at::Tensor> Optimizer::state() const {
  std::map<std::string, at::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto& [k, b] : state_[i].buffers) out[names_[i] + "." + k] = b.detach().clone();
    out[names_[i] + ".step"] = at::scalar_tensor(state_[i].step, at::kLong);
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, at::Tensor>& state) {
  std::vector<ParamState> next(params_.size());
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < names_.size(); ++i) index[names_[i]] = i;
  for (auto& [key, t] : state) {
    auto dot = key.rfind('.');
    auto it = dot == std::string::npos ? index.end() : index.find(key.substr(0, dot));
    if (it == index.end())
      throw InputError("optimizer state entry '" + key + "' names no parameter of the model (was the checkpoint written for another model?)");
    std::string buf = key.substr(dot + 1);
    if (buf == "step") {
      next[it->second].step = t.item<int64_t>();
      continue;
    }
    const at::Tensor& p = params_[it->second];
    if (t.sizes() != p.sizes())
      throw InputError("optimizer state entry '" + key + "' does not match the shape of parameter '" + it->first + "'");
    next[it->second].buffers[buf] = t.detach().to(p.options()).clone();
  }
  state_ = std::move(next);
}

// ---- SGD -------------------------------------------------------------------------------------------

Sgd::Sgd(const OptimizerSpec& spec, std::vector<at::Tensor> params, std::vector<std::string> names)
    : Optimizer(spec, std::move(params), std::move(names)) {}

void Sgd::step() {
  at::NoGradGuard no_grad;
  const double momentum = spec_.momentum;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    at::Tensor d_p = g;
    if (decay_[i] != 0.0) d_p = d_p.add(p, decay_[i]);
    if (momentum != 0.0) {
      ParamState& st = state_[i];
      auto it = st.buffers.find("momentum_buffer");
      if (it == st.buffers.end()) {
        it = st.buffers.emplace("momentum_buffer", d_p.clone().detach()).first;
      } else {
        it->second.mul_(momentum).add_(d_p, 1.0);  // dampening 0
      }
      if (spec_.nesterov)
        d_p = d_p.add(it->second, momentum);
      else
        d_p = it->second;
    }
    ++state_[i].step;
    p.add_(d_p, -lr_);
  }
}

// ---- AdamW -----------------------------------------------------------------------------------------

AdamW::AdamW(const OptimizerSpec& spec, std::vector<at::Tensor> params, std::vector<std::string> names)
    : Optimizer(spec, std::move(params), std::move(names)) {}

void AdamW::step() {
  at::NoGradGuard no_grad;
  const double beta1 = spec_.beta1, beta2 = spec_.beta2;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    ParamState& st = state_[i];
    auto& bufs = st.buffers;
    if (!bufs.count("exp_avg")) {
      bufs["exp_avg"] = at::zeros_like(p, at::MemoryFormat::Preserve);
      bufs["exp_avg_sq"] = at::zeros_like(p, at::MemoryFormat::Preserve);
    }
    at::Tensor& exp_avg = bufs["exp_avg"];
    at::Tensor& exp_avg_sq = bufs["exp_avg_sq"];
    const int64_t step = ++st.step;
    p.mul_(1.0 - lr_ * decay_[i]);
    exp_avg.mul_(beta1).add_(g, 1.0 - beta1);
    exp_avg_sq.mul_(beta2).addcmul_(g, g, 1.0 - beta2);
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
    const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
    const double step_size = lr_ / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);
    at::Tensor denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(spec_.eps);
    p.addcdiv_(exp_avg, denom, -step_size);
  }
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<at::Tensor> params,
                                          std::vector<std::string> names) {
  validate(spec);
  if (spec.type == "adamw") return std::make_unique<AdamW>(spec, std::move(params), std::move(names));
  return std::make_unique<Sgd>(spec, std::move(params), std::move(names));
}

// ---- gradient clipping -----------------------------------------------------------------------------

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  std::vector<at::Tensor> grads;
  for (auto& p : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    norms.push_back(at::norm(p.grad(), 2));
  }
  if (grads.empty()) return 0.0;
  at::Tensor total = at::norm(at::stack(norms), 2);
  // As PyTorch: max_norm / (total + 1e-6) is reciprocal() * max_norm there.
  at::Tensor coef = at::clamp_max((total + 1e-6).reciprocal() * max_norm, 1.0);
  for (auto& g : grads) g.mul_(coef);
  return total.item<double>();
}

}  // namespace mc::train
