#include "sharing/codebook_modifier.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mc::share {

SharedWeight shared_weight(const std::string& param, const at::Tensor& codebook, const at::Tensor& indices,
                           bool zero_entry, int64_t channel_dim) {
  SharedWeight s;
  s.param = param;
  const auto idx_opts = indices.options().dtype(at::kLong);
  if (codebook.dim() == 1) {
    s.codebook = codebook.detach().to(at::kFloat).contiguous().clone();
    s.index = indices.to(at::kLong).contiguous();
    s.zero = zero_entry ? at::zeros({1}, idx_opts) : at::zeros({0}, idx_opts);
  } else {
    const int64_t rows = codebook.size(0), k = codebook.size(1);
    const at::Tensor offset = at::arange(rows, idx_opts) * k;  // row r's entries start at r * k
    std::vector<int64_t> shape(indices.dim(), 1);
    shape[static_cast<size_t>(channel_dim)] = rows;
    s.codebook = codebook.detach().to(at::kFloat).reshape({-1}).contiguous().clone();
    s.index = (indices.to(at::kLong) + offset.reshape(shape)).contiguous();
    s.zero = zero_entry ? offset : at::zeros({0}, idx_opts);
  }
  return s;
}

CodebookModifier::CodebookModifier(std::vector<SharedWeight> weights) : weights_(std::move(weights)) {
  for (auto& w : weights_) w.codebook.requires_grad_(true);  // a leaf the optimizer steps
}

namespace {
at::Tensor decoded(const SharedWeight& s) { return s.codebook.detach().index_select(0, s.index.reshape({-1})).reshape(s.index.sizes()); }
}  // namespace

void CodebookModifier::on_train_begin(train::TrainContext& ctx) {
  at::NoGradGuard no_grad;
  for (auto& s : weights_) {
    if (!ctx.model->tensors.count(s.param))
      throw InputError("codebook fine-tuning: the model has no weight '" + s.param +
                       "' any more (a stage after `cluster` removed or renamed it); cluster after such stages");
    const at::Tensor& w = ctx.model->tensor(s.param);
    if (w.sizes() != s.index.sizes() || w.scalar_type() != at::kFloat)
      throw InputError("codebook fine-tuning: weight '" + s.param +
                       "' changed shape or type after the `cluster` stage; cluster after the stages that change it");
    if (s.codebook.device() != w.device()) {
      s.codebook = s.codebook.detach().to(w.device()).requires_grad_(true);
      s.index = s.index.to(w.device());
      s.zero = s.zero.to(w.device());
    }
    if (!w.equal(decoded(s)))
      throw InputError("codebook fine-tuning: weight '" + s.param +
                       "' is no longer its codebook's values: a stage between `cluster` and this training changed it "
                       "(prune, fold_batch_norm, ...); run such stages before `cluster`");
  }
}

std::vector<std::pair<std::string, at::Tensor>> CodebookModifier::extra_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& s : weights_) out.emplace_back("codebook." + s.param, s.codebook);
  return out;
}

void CodebookModifier::on_after_backward(train::TrainContext& ctx) {
  at::NoGradGuard no_grad;
  for (auto& s : weights_) {
    const at::Tensor& w = ctx.model->tensor(s.param);
    const at::Tensor& g = w.grad();
    if (!g.defined()) continue;  // the weight took no part in this loss
    at::Tensor cg = at::zeros_like(s.codebook).scatter_add_(0, s.index.reshape({-1}), g.reshape({-1}));
    if (s.zero.numel() > 0) cg.index_fill_(0, s.zero, 0.0);
    s.codebook.mutable_grad() = cg;
    w.mutable_grad().reset();  // the optimizer skips the weight; on_step_end writes it
  }
}

void CodebookModifier::write_weights(train::TrainContext& ctx) {
  at::NoGradGuard no_grad;
  for (auto& s : weights_) {
    if (s.zero.numel() > 0) s.codebook.index_fill_(0, s.zero, 0.0);
    ctx.model->tensor(s.param).copy_(decoded(s));
  }
}

void CodebookModifier::on_step_end(train::TrainContext& ctx) { write_weights(ctx); }
void CodebookModifier::on_train_end(train::TrainContext& ctx) { write_weights(ctx); }

std::optional<train::ModifierState> CodebookModifier::pending_state() const {
  train::ModifierState st;
  st.kind = "codebook";
  st.settings["params"] = nlohmann::json::array();
  for (const auto& s : weights_) {
    st.settings["params"].push_back(s.param);
    st.tensors[s.param + ".codebook"] = s.codebook.detach().cpu().clone();
    st.tensors[s.param + ".index"] = s.index.cpu();
    st.tensors[s.param + ".zero"] = s.zero.cpu();
  }
  return st;
}

std::shared_ptr<CodebookModifier> CodebookModifier::from_state(const train::ModifierState& state) {
  std::vector<SharedWeight> ws;
  for (const auto& p : state.settings.at("params")) {
    SharedWeight s;
    s.param = p.get<std::string>();
    for (const char* part : {".codebook", ".index", ".zero"})
      if (!state.tensors.count(s.param + part))
        throw InputError("the pending codebook state has no tensor '" + s.param + part + "'");
    s.codebook = state.tensors.at(s.param + ".codebook").to(at::kFloat).clone();
    s.index = state.tensors.at(s.param + ".index").to(at::kLong);
    s.zero = state.tensors.at(s.param + ".zero").to(at::kLong);
    const int64_t n = s.codebook.numel();
    if (s.codebook.dim() != 1 || (s.index.numel() > 0 && (s.index.min().item<int64_t>() < 0 ||
                                                         s.index.max().item<int64_t>() >= n)) ||
        (s.zero.numel() > 0 && (s.zero.min().item<int64_t>() < 0 || s.zero.max().item<int64_t>() >= n)))
      throw InputError("the pending codebook state of '" + s.param + "' has indices outside its codebook");
    ws.push_back(std::move(s));
  }
  return std::make_shared<CodebookModifier>(std::move(ws));
}

}  // namespace mc::share
