#include "distillation/distill_modifier.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>
#include <sstream>

#include "common/error.h"
#include "distillation/losses.h"
#include "recipe/options.h"
#include "train/loss.h"
#include "train/trainer.h"

namespace mc::distill {

const ir::Value* resolve_value(const ir::Graph& g, const std::string& scope) {
  if (const ir::Value* v = g.find_value(scope)) return v;
  const ir::Value* found = nullptr;
  for (const ir::Node* n : g.nodes())
    if (n->scope() == scope && !n->outputs().empty()) found = n->output(0);
  return found;
}

std::vector<std::string> scope_candidates(const ir::Graph& g) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const ir::Node* n : g.nodes()) {
    if (!n->scope().empty() && seen.insert(n->scope()).second) out.push_back(n->scope());
    for (const ir::Value* v : n->outputs())
      if (seen.insert(v->name()).second) out.push_back(v->name());
  }
  return out;
}

namespace {

std::string shape_str(const ir::Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  o << "]";
  return o.str();
}

const ir::Value* must_resolve(const ir::Model& m, const std::string& scope, const std::string& role,
                              const std::string& where, const std::string& kind) {
  const ir::Value* v = resolve_value(m.graph, scope);
  if (v) return v;
  const std::string hint = recipe::did_you_mean(scope, scope_candidates(m.graph));
  throw InputError(where + ": " + kind + " scope '" + scope + "' does not exist in the " + role + " model '" + m.name +
                   "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                   "; give a node scope or value name listed by `compress inspect`");
}

std::string pair_str(const FeaturePair& p, const char* kind) {
  return p.where + ": " + kind + " '" + p.student + "' -> '" + p.teacher + "'";
}

/// The feature layouts a hint pairs: N x C x H x W maps (channels in dim 1, spatial sizes equal),
/// N x T x D token features (transformer blocks: token counts equal, width in the last dim) and
/// N x D vectors. Returns the dim whose size may differ (an adapter maps it) or -1 when the shapes
/// are equal.
int64_t check_hint_shapes(const FeaturePair& p, const ir::Shape& ss, const ir::Shape& ts) {
  if (ss.size() != ts.size() || ss.size() < 2 || ss.size() > 4)
    throw InputError(pair_str(p, "hint") + " needs N x C x H x W feature maps, N x T x D token features or N x D vectors of "
                     "the same rank in both models, got student " + shape_str(ss) + " and teacher " + shape_str(ts));
  const size_t width = ss.size() == 4 ? 1 : ss.size() - 1;
  for (size_t d = 1; d < ss.size(); ++d) {
    if (d == width || ss[d] == ts[d]) continue;
    throw InputError(pair_str(p, "hint") + ": " + (ss.size() == 4 ? "spatial sizes" : "token counts") + " differ (student " +
                     shape_str(ss) + ", teacher " + shape_str(ts) + "); pair values of the same " +
                     (ss.size() == 4 ? "resolution (e.g. the same stage of both networks)"
                                     : "sequence length (the same patch size and class token)"));
  }
  return ss[width] == ts[width] ? -1 : static_cast<int64_t>(width);
}

void check_attention_shapes(const FeaturePair& p, const ir::Shape& ss, const ir::Shape& ts) {
  if (ss.size() != 4 || ts.size() != 4)
    throw InputError(pair_str(p, "attention") + " needs N x C x H x W feature maps, got student " + shape_str(ss) +
                     " and teacher " + shape_str(ts));
  if (ss[2] != ts[2] || ss[3] != ts[3])
    throw InputError(pair_str(p, "attention") + ": spatial sizes differ (student " + shape_str(ss) + ", teacher " +
                     shape_str(ts) + "); pair values of the same resolution (e.g. the same stage of both networks)");
}

}  // namespace

void DistillModifier::init_adapter(Feature& f, const ir::Shape& ss, const ir::Shape& ts, int64_t width, uint64_t seed) {
  // PyTorch's Conv2d and Linear default initialisation: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in),
  // 1/sqrt(fan_in)), bias the same. Its own generator (seed + hint index): the same draws as
  // torch.manual_seed(seed + i), and ATen's global generator is left alone. Feature maps get a 1x1
  // conv (student -> teacher channels), token features and vectors a Linear over the width.
  const int64_t in = ss[static_cast<size_t>(width)], out = ts[static_cast<size_t>(width)];
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  const std::vector<int64_t> shape = ss.size() == 4 ? std::vector<int64_t>{out, in, 1, 1} : std::vector<int64_t>{out, in};
  f.weight = at::empty(shape, at::kFloat).uniform_(-bound, bound, gen).requires_grad_(true);
  f.bias = at::empty({out}, at::kFloat).uniform_(-bound, bound, gen).requires_grad_(true);
}

DistillModifier::DistillModifier(std::shared_ptr<ir::Model> teacher, const ir::Model& student, DistillSettings settings)
    : teacher_(std::move(teacher)), s_(std::move(settings)) {
  if (!teacher_) throw Error("DistillModifier: null teacher");
  if (!(s_.temperature > 0)) kd_loss(at::zeros({1, 1}), at::zeros({1, 1}), s_.temperature);  // throws the message
  if (!(s_.alpha >= 0 && s_.alpha <= 1))
    throw InputError("distillation alpha = " + recipe::format_number(s_.alpha) + " must be in [0, 1]");
  for (int pass = 0; pass < 2; ++pass) {
    const bool hint = pass == 0;
    for (const FeaturePair& p : hint ? s_.hints : s_.attention) {
      const char* kind = hint ? "hint" : "attention";
      const ir::Value* sv = must_resolve(student, p.student, "student", p.where, kind);
      const ir::Value* tv = must_resolve(*teacher_, p.teacher, "teacher", p.where, kind);
      const ir::Shape& ss = sv->shape();
      const ir::Shape& ts = tv->shape();
      Feature f;
      f.pair = p;
      f.student_value = sv->name();
      f.teacher_value = tv->name();
      if (hint) {
        const int64_t width = check_hint_shapes(p, ss, ts);
        if (width >= 0) init_adapter(f, ss, ts, width, s_.seed + hints_.size());
      } else {
        check_attention_shapes(p, ss, ts);
      }
      (hint ? hints_ : attention_).push_back(std::move(f));
    }
  }
  teacher_exec_ = std::make_unique<runtime::Executor>(*teacher_);
  for (auto* group : {&hints_, &attention_})
    for (auto& f : *group)
      teacher_exec_->add_hook(f.teacher_value, [&f](const ir::Value&, const at::Tensor& t) { f.teacher_out = t; });
  if (s_.cache_size > 0) cached_.assign(static_cast<size_t>(s_.cache_size), 0);
}

DistillModifier::~DistillModifier() = default;

std::pair<at::Tensor, at::Tensor> DistillModifier::adapter(size_t hint) const {
  return {hints_.at(hint).weight, hints_.at(hint).bias};
}

void DistillModifier::attach_student(train::TrainContext& ctx) {
  // The trainer keeps these hooks on every executor it rebuilds (TrainContext::add_hook).
  for (auto* group : {&hints_, &attention_})
    for (auto& f : *group)
      student_hooks_.push_back(ctx.add_hook(f.student_value, [&f](const ir::Value&, const at::Tensor& t) { f.student_out = t; }));
}

void DistillModifier::detach_student(train::TrainContext& ctx) {
  for (int id : student_hooks_) ctx.remove_hook(id);
  student_hooks_.clear();
}

void DistillModifier::on_train_begin(train::TrainContext& ctx) { attach_student(ctx); }

void DistillModifier::on_epoch_begin(train::TrainContext&, int64_t) {
  sums_.clear();
  seen_ = 0;
  teacher_samples_ = 0;
}

double DistillModifier::task_loss_weight(train::TrainContext&) { return 1.0 - s_.alpha; }

std::vector<std::pair<std::string, at::Tensor>> DistillModifier::extra_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& f : hints_)
    if (f.weight.defined()) {
      out.emplace_back("distill.adapter." + f.pair.student + ".weight", f.weight);
      out.emplace_back("distill.adapter." + f.pair.student + ".bias", f.bias);
    }
  return out;
}

at::Tensor DistillModifier::teacher_logits(train::TrainContext& ctx, const at::Tensor& images) {
  at::NoGradGuard no_grad;
  const bool need_features = !hints_.empty() || !attention_.empty();
  if (s_.cache_size <= 0 || need_features) {
    teacher_samples_ += images.size(0);
    return teacher_exec_->run1(images);
  }
  if (!ctx.batch_indices.defined() || ctx.batch_indices.size(0) != images.size(0))
    throw Error("distillation: cache_teacher needs the dataset indices of each batch (TrainContext::batch_indices)");
  const at::Tensor idx = ctx.batch_indices.to(at::kLong).contiguous();
  const int64_t* ip = idx.data_ptr<int64_t>();
  std::vector<int64_t> missing;
  for (int64_t k = 0; k < idx.size(0); ++k) {
    if (ip[k] < 0 || ip[k] >= s_.cache_size)
      throw Error("distillation: sample index " + std::to_string(ip[k]) + " outside the teacher cache (" +
                  std::to_string(s_.cache_size) + " samples)");
    if (!cached_[static_cast<size_t>(ip[k])]) missing.push_back(k);
  }
  if (!missing.empty()) {
    const at::Tensor pos = at::tensor(missing, at::kLong);
    const at::Tensor logits = teacher_exec_->run1(images.index_select(0, pos));
    if (!cache_.defined()) cache_ = at::zeros({s_.cache_size, logits.size(1)}, logits.options());
    const at::Tensor rows = idx.index_select(0, pos);
    cache_.index_copy_(0, rows, logits);
    for (int64_t k : missing) cached_[static_cast<size_t>(ip[k])] = 1;
    teacher_samples_ += static_cast<int64_t>(missing.size());
  }
  return cache_.index_select(0, idx);
}

at::Tensor DistillModifier::extra_loss(train::TrainContext& ctx, const at::Tensor& images, const at::Tensor& outputs,
                                       const at::Tensor& labels) {
  const at::Tensor t = teacher_logits(ctx, images);
  last_teacher_logits_ = t;
  const double n = static_cast<double>(outputs.size(0));
  at::Tensor total = kd_loss(outputs, t, s_.temperature);
  sums_["kd"] += total.item<double>() * n;
  {
    at::NoGradGuard no_grad;
    sums_["ce"] += train::cross_entropy(outputs.detach(), labels, ctx.options ? ctx.options->label_smoothing : 0.0).item<double>() * n;
  }
  total = total * s_.alpha;
  for (auto* group : {&hints_, &attention_}) {
    const bool hint = group == &hints_;
    for (auto& f : *group) {
      if (!f.student_out.defined() || !f.teacher_out.defined())
        throw Error("distillation: value '" + f.student_value + "' or '" + f.teacher_value + "' was not computed this step");
      at::Tensor term;
      if (hint) {
        at::Tensor sv = f.student_out;
        if (f.weight.defined()) sv = f.weight.dim() == 4 ? at::conv2d(sv, f.weight, f.bias) : at::linear(sv, f.weight, f.bias);
        term = hint_loss(sv, f.teacher_out);
      } else {
        term = attention_loss(f.student_out, f.teacher_out);
      }
      sums_[(hint ? "hint_" : "at_") + f.pair.student] += term.item<double>() * n;
      total = total + term * (hint ? s_.hint_weight : s_.attention_weight);
      f.student_out = at::Tensor();
      f.teacher_out = at::Tensor();
    }
  }
  seen_ += outputs.size(0);
  return total;
}

void DistillModifier::on_epoch_end(train::TrainContext& ctx, int64_t epoch) {
  DistillEpoch e;
  e.epoch = epoch;
  for (auto& [k, v] : sums_) e.terms[k] = seen_ > 0 ? v / static_cast<double>(seen_) : 0.0;
  e.teacher_samples = teacher_samples_;
  if (!ctx.history.empty() && ctx.history.back().has_val) {
    e.has_val = true;
    e.val_top1 = ctx.history.back().val.top1;
  }
  epochs_.push_back(std::move(e));
}

void DistillModifier::on_train_end(train::TrainContext& ctx) { detach_student(ctx); }

}  // namespace mc::distill
