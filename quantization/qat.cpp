#include "quantization/qat.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "distributed/world.h"
#include "ir/op_registry.h"
#include "ir/passes/fold_batch_norm.h"
#include "ir/passes/pass_util.h"
#include "runtime/executor.h"

namespace mc::quant {

using ir::passes::source_tensor_name;
using ir::passes::static_value;

namespace {

constexpr float kScaleEps = 1.1920928955078125e-07f;  // torch.finfo(float32).eps

ir::Node* producer_of(ir::Graph& g, const std::string& value) {
  ir::Value* v = g.find_value(value);
  if (!v || !v->producer()) throw Error("qat: no node produces value '" + value + "'");
  return v->producer();
}

bool is_source_value(const ir::Value* v) { return !source_tensor_name(v).empty(); }

// A copy of `v`'s param/constant node at the top of the graph (so that nodes placed early can use
// it); the old node is removed. Returns the new value.
ir::Value* hoist_source(ir::Graph& g, ir::Value* v) {
  ir::Node* p = v->producer();
  ir::Node* first = g.first_node();
  if (p == first) return v;
  ir::Node* n = g.insert_before(first, p->op(), {}, p->attrs(), p->scope());
  g.replace_all_uses(v, n->output());
  g.remove_node(p);
  return n->output();
}

// Replaces the `from` (param/constant) node of a scale by an `op` node at the top of the graph.
void swap_source_op(ir::Graph& g, ir::Node* src, const std::string& op) {
  ir::Node* n = g.insert_before(g.first_node(), op, {}, src->attrs(), src->scope());
  g.replace_all_uses(src->output(), n->output());
  g.remove_node(src);
}

// conv2d -> batch_norm pattern of torch.ao's ConvBn2d: the BN is the conv output's only user.
ir::Node* following_batch_norm(const ir::Graph& g, ir::Node* conv) {
  ir::Value* h = conv->output();
  if (h->users().size() != 1 || g.is_graph_output(h)) return nullptr;
  ir::Node* bn = h->users()[0];
  if (bn->op() != "batch_norm" || bn->input(0) != h) return nullptr;
  for (size_t i = 1; i < 5; ++i)
    if (!is_source_value(bn->input(i)) || bn->input(i) == h) return nullptr;
  return bn;
}

int64_t per_sample_numel(const ir::Value* v) {
  int64_t n = 1;
  const auto& s = v->shape();
  for (size_t i = 1; i < s.size(); ++i) n *= s[i];
  return std::max<int64_t>(n, 1);
}

int64_t numel(const ir::Value* v) {
  int64_t n = 1;
  for (int64_t d : v->shape()) n *= d;
  return std::max<int64_t>(n, 1);
}

// Per-channel max |q| along `axis` as a [C] vector: the alpha of binary/ternary weights.
at::Tensor channel_alpha(const at::Tensor& q, int64_t axis) {
  at::Tensor a = q.abs().transpose(0, axis).flatten(1);
  return std::get<0>(a.max(1)).clamp_min(kScaleEps).contiguous();
}

void write_qparams(ir::Model& m, const QatQuantizer& q, const QParams& p) {
  at::Tensor& s = m.tensors.at(q.scale);
  at::Tensor& z = m.tensors.at(q.zero_point);
  s.copy_(p.scale.reshape(s.sizes()));
  z.copy_(p.zero_point.reshape(z.sizes()));
}

// The output of the last fake_quant (in graph order, the executor's order) that uses `q`'s scale.
std::string last_quantizer_output(const ir::Graph& g, const QatQuantizer& q) {
  std::string last;
  for (const ir::Node* n : g.nodes())
    if (n->op() == "fake_quant" && source_tensor_name(n->input(1)) == q.scale) last = n->output()->name();
  if (last.empty()) throw Error("qat: no fake_quant uses the scale '" + q.scale + "' of quantizer " + q.name);
  return last;
}

}  // namespace

QatState prepare_qat(ir::Model& m, const QuantPlan& plan, const std::vector<InsertedQuantizer>& inserted,
                     const Calibration* calib, const QatOptions& o) {
  at::NoGradGuard no_grad;
  ir::Graph& g = m.graph;
  QatState st;
  st.options = o;
  std::map<std::string, const InsertedQuantizer*> by_name;
  for (auto& iq : inserted) by_name[iq.name] = &iq;

  for (auto& w : plan.weights) {
    const InsertedQuantizer& iq = *by_name.at(w.name);
    ir::Node* fq = producer_of(g, iq.outputs.at(0));
    ir::Node* layer = producer_of(g, w.layer);
    ir::Node* bn = o.fold_batch_norm && layer->op() == "conv2d" ? following_batch_norm(g, layer) : nullptr;
    if (bn) {
      ir::Value* gamma = hoist_source(g, bn->input(1));
      ir::Value* beta = hoist_source(g, bn->input(2));
      ir::Value* mean = hoist_source(g, bn->input(3));
      ir::Value* var = hoist_source(g, bn->input(4));
      const double eps = bn->attrs().f("eps", 1e-5);
      ir::Attrs fa;
      fa.set("eps", eps);
      ir::Node* fw = g.insert_before(fq, "bn_fold_weight", {fq->input(0), gamma, var}, fa, w.scope);
      g.set_input(fq, 0, fw->output());
      std::vector<ir::Value*> bin = {layer->output(), gamma, beta, mean, var};
      if (layer->inputs().size() > 2) {
        bin.push_back(layer->input(2));
        g.set_inputs(layer, {layer->input(0), layer->input(1)});
      }
      ir::Attrs ba;
      ba.set("eps", eps);
      ba.set("momentum", bn->attrs().f("momentum", 0.1));
      ir::Node* bq = g.insert_after(bn, "bn_qat", bin, ba, bn->scope());
      g.replace_all_uses(bn->output(), bq->output());
      g.remove_node(bn);
      ++st.folded_batch_norms;
    }
    if (w.spec.binary_or_ternary()) {
      const bool binary = w.spec.type == "binary";
      ir::Attrs qa;
      qa.set("axis", w.spec.ch_axis);
      if (!binary) qa.set("threshold", w.spec.threshold);
      ir::Node* bt = g.insert_before(fq, binary ? "binary_quant" : "ternary_quant", {fq->input(0)}, qa, w.scope);
      g.replace_all_uses(fq->output(), bt->output());
      auto producers = ir::passes::input_producers(*fq);
      g.remove_node(fq);
      ir::passes::remove_dead_nodes(m, producers);
      ++(binary ? st.binary_weights : st.ternary_weights);
      continue;
    }
    // The weight this quantizer sees now (folded with BatchNorm) gives its initial qparams.
    QatQuantizer q{w.name, {fq->input(0)->name()}, iq.scale, iq.zero_point, w.spec, true};
    at::Tensor wt = static_value(m, fq->input(0));
    if (!wt.defined()) throw Error("qat: the weight of " + fq->describe() + " is not static");
    auto [lo, hi] = tensor_range(w.spec, wt);
    write_qparams(m, q, compute_qparams(w.spec, lo, hi));
    st.quantizers.push_back(std::move(q));
  }
  for (auto& a : plan.activations) {
    const InsertedQuantizer& iq = *by_name.at(a.name);
    QatQuantizer q{a.name, {}, iq.scale, iq.zero_point, a.spec, false};
    for (auto& out : iq.outputs) q.values.push_back(producer_of(g, out)->input(0)->name());
    if (calib && calib->entries.contains(a.name) && calib->entries.at(a.name).contains("range")) {
      const auto& r = calib->entries.at(a.name).at("range");
      st.initial_ranges[a.name] = {r[0].get<double>(), r[1].get<double>()};
    }
    st.quantizers.push_back(std::move(q));
  }
  m.infer_shapes();
  if (o.learn_scale) {
    for (ir::Node* fq : g.nodes()) {
      // A quantized global pool (insert_qdq) applies its output quantizer's LSQ step-size gradient.
      const bool pool = fq->op() == "adaptive_avg_pool2d" && fq->inputs().size() == 3;
      if (fq->op() != "fake_quant" && !pool) continue;
      ir::Node* src = fq->input(1)->producer();
      if (src->op() == "constant") swap_source_op(g, src, "param");
      const ir::Node* xp = fq->input(0)->producer();
      const bool weight = !pool && xp && (is_source_value(fq->input(0)) || xp->op() == "bn_fold_weight");
      const double qmax = static_cast<double>(std::max<int64_t>(fq->attrs().i("quant_max"), 1));
      const double n = static_cast<double>(weight ? numel(fq->input(0)) : per_sample_numel(pool ? fq->output() : fq->input(0)));
      fq->attrs().set("grad_factor", 1.0 / std::sqrt(n * qmax));
    }
  }
  m.infer_shapes();
  m.verify();
  return st;
}

int64_t freeze_batch_norms(ir::Model& m) {
  int64_t n = 0;
  for (ir::Node* b : m.graph.nodes())
    if (b->op() == "bn_qat") {
      b->attrs().set("frozen", int64_t(1));
      ++n;
    }
  return n;
}

void convert_qat(ir::Model& m) {
  at::NoGradGuard no_grad;
  ir::Graph& g = m.graph;
  // 1. conv2d + bn_qat -> conv2d with the folded weight and bias.
  for (ir::Node* bq : g.nodes()) {
    if (bq->op() != "bn_qat") continue;
    ir::Node* conv = bq->input(0)->producer();
    ir::Node* wq = conv ? conv->input(1)->producer() : nullptr;
    ir::Node* fw = wq && !wq->inputs().empty() ? wq->input(0)->producer() : nullptr;
    if (!conv || conv->op() != "conv2d" || !fw || fw->op() != "bn_fold_weight" || conv->output()->users().size() != 1)
      throw Error("qat: " + bq->describe() + " does not follow conv2d(x, quantizer(bn_fold_weight(w)))");
    ir::Value* wv = fw->input(0);
    const std::string wname = source_tensor_name(wv);
    if (wname.empty()) throw Error("qat: the weight of " + conv->describe() + " is not a param/constant");
    ir::passes::BatchNormParams p;
    p.gamma = static_value(m, bq->input(1));
    p.beta = static_value(m, bq->input(2));
    p.mean = static_value(m, bq->input(3));
    p.var = static_value(m, bq->input(4));
    p.eps = bq->attrs().f("eps", 1e-5);
    at::Tensor bias = bq->inputs().size() > 5 ? static_value(m, bq->input(5)) : at::Tensor();
    ir::passes::LayerWeights f = ir::passes::fold_bn_weights(m.tensor(wname).detach(), bias.defined() ? bias.detach() : bias, p);
    m.tensors[wname] = f.weight.detach().contiguous();
    g.set_input(wq, 0, wv);
    ir::Value* bv = nullptr;
    if (bq->inputs().size() > 5) {
      bv = bq->input(5);
      m.tensors[source_tensor_name(bv)] = f.bias.detach().contiguous();
    } else {
      ir::Attrs a;
      a.set("name", m.add_tensor(conv->scope().empty() ? wname + ".bias" : conv->scope() + ".bias", f.bias.detach().contiguous()));
      bv = g.insert_before(conv, "param", {}, a, conv->scope())->output();
    }
    g.set_inputs(conv, {conv->input(0), conv->input(1), bv});
    std::vector<ir::Node*> dead = ir::passes::input_producers(*bq);
    dead.push_back(fw);
    g.replace_all_uses(bq->output(), conv->output());
    g.remove_node(bq);
    ir::passes::remove_dead_nodes(m, dead);
  }
  // 2. binary/ternary quantizers -> fake_quant on the grid [-1, 1] of the quantized weight.
  for (ir::Node* bt : g.nodes()) {
    if (bt->op() != "binary_quant" && bt->op() != "ternary_quant") continue;
    const std::string wname = source_tensor_name(bt->input(0));
    if (wname.empty()) throw Error("qat: the weight of " + bt->describe() + " is not a param/constant");
    const int64_t axis = bt->attrs().i("axis", 0);
    ir::KernelContext kc;
    at::Tensor q = ir::OpRegistry::instance().get(*bt).kernel(*bt, {m.tensor(wname).detach()}, kc).at(0).detach().contiguous();
    at::Tensor alpha = channel_alpha(q, axis);
    m.tensors[wname] = q;
    ir::Attrs sa, za, fa;
    sa.set("name", m.add_tensor(wname + ".scale", alpha));
    za.set("name", m.add_tensor(wname + ".zero_point", at::zeros({alpha.size(0)}, at::kLong)));
    ir::Node* first = g.first_node();
    ir::Node* s = g.insert_before(first, "constant", {}, sa, bt->scope());
    ir::Node* z = g.insert_before(first, "constant", {}, za, bt->scope());
    fa.set("quant_min", int64_t(-1));
    fa.set("quant_max", int64_t(1));
    fa.set("axis", axis);
    ir::Node* fq = g.insert_before(bt, "fake_quant", {bt->input(0), s->output(), z->output()}, fa, bt->scope());
    g.replace_all_uses(bt->output(), fq->output());
    g.remove_node(bt);
  }
  // 3. learned scales -> constants (clamped to be positive).
  for (ir::Node* fq : g.nodes()) {
    if (fq->op() != "fake_quant") continue;
    ir::Node* src = fq->input(1)->producer();
    if (src->op() != "param") continue;
    const std::string name = src->attrs().s("name");
    m.tensors[name] = m.tensors.at(name).detach().clamp_min(kScaleEps).contiguous();
    swap_source_op(g, src, "constant");
  }
  m.infer_shapes();
  m.verify();
}

QatModifier::QatModifier(QatState state, dist::World& world) : state_(std::move(state)), world_(world) {
  ObserverOptions oo;
  oo.type = "moving_average";
  oo.averaging_constant = state_.options.averaging_constant;
  for (auto& q : state_.quantizers) {
    observers_.push_back(q.weight ? nullptr : make_observer(oo, q.spec));
    auto it = state_.initial_ranges.find(q.name);
    if (!q.weight && it != state_.initial_ranges.end())  // the first observation sets min/max
      observers_.back()->observe(at::tensor({static_cast<float>(it->second.first), static_cast<float>(it->second.second)}));
  }
}

void QatModifier::attach(train::TrainContext& ctx) {
  if (state_.options.learn_scale) return;  // LSQ: the optimizer moves the scales
  ir::Model* m = ctx.model;
  batch_range_.assign(state_.quantizers.size(), {});
  // The trainer keeps these hooks on every executor it rebuilds (TrainContext::add_hook).
  // Training forwards only (inference runs without autograd), until the ranges freeze.
  auto observing = [this] { return !observers_frozen_ && at::GradMode::is_enabled(); };
  for (size_t i = 0; i < state_.quantizers.size(); ++i) {
    const QatQuantizer& q = state_.quantizers[i];
    if (q.weight) {  // the current weight's range, before its fake_quant runs
      ctx.add_hook(q.values.at(0), [this, m, i, observing](const ir::Value&, const at::Tensor& t) {
        if (!observing()) return;
        at::NoGradGuard no_grad;
        const QatQuantizer& q = state_.quantizers[i];
        auto [lo, hi] = tensor_range(q.spec, t);
        write_qparams(*m, q, compute_qparams(q.spec, lo, hi));
      });
      continue;
    }
    // Activations: one moving-average step per forward from the range of all the values the
    // quantizer covers (a concat's inputs, a pool's input and output), applied after its last
    // fake_quant ran, so every value of the group is quantized with the same qparams in a forward
    // (the next forward uses the updated ones).
    for (auto& v : q.values)
      ctx.add_hook(v, [this, i, observing](const ir::Value&, const at::Tensor& t) {
        if (!observing()) return;
        at::NoGradGuard no_grad;
        auto& r = batch_range_[i];
        at::Tensor x = t.detach();
        r.first = r.first.defined() ? at::minimum(r.first, x.min()) : x.min();
        r.second = r.second.defined() ? at::maximum(r.second, x.max()) : x.max();
      });
    ctx.add_hook(last_quantizer_output(m->graph, q), [this, m, i, observing](const ir::Value&, const at::Tensor&) {
      auto& r = batch_range_[i];
      if (!observing() || !r.first.defined()) return;
      at::NoGradGuard no_grad;
      at::Tensor range = at::stack({r.first, r.second}).to(at::kFloat);
      if (world_.distributed()) {  // the global batch's range: one all_reduce (min of [min, -max])
        at::Tensor t = (range * at::tensor({1.0f, -1.0f})).contiguous();
        world_.all_reduce(t, dist::ReduceOp::kMin);
        range = t * at::tensor({1.0f, -1.0f});
      }
      observers_[i]->observe(range);
      write_qparams(*m, state_.quantizers[i], observers_[i]->qparams());
      r = {};
    });
  }
}

void QatModifier::on_train_begin(train::TrainContext& ctx) {
  const QatOptions& o = state_.options;
  auto check = [&](const char* key, int64_t v) {
    if (v >= ctx.epochs)
      throw InputError("'" + o.context + "." + key + "' = " + std::to_string(v) + " is not before the end of the finetune, which runs " +
                       std::to_string(ctx.epochs) + " epoch(s); use 0.." + std::to_string(ctx.epochs - 1) +
                       " (freeze after that many epochs) or -1 (never)");
  };
  check("freeze_bn_epoch", o.freeze_bn_epoch);
  check("freeze_observers_epoch", o.freeze_observers_epoch);
  attach(ctx);
}

void QatModifier::on_epoch_begin(train::TrainContext& ctx, int64_t epoch) {
  if (epoch == state_.options.freeze_bn_epoch) {
    int64_t n = freeze_batch_norms(*ctx.model);
    bn_frozen_ = true;
    spdlog::info("qat: BatchNorm statistics of {} layers frozen from epoch {} on", n, epoch + 1);
  }
  if (epoch == state_.options.freeze_observers_epoch) {
    observers_frozen_ = true;
    spdlog::info("qat: quantization ranges frozen from epoch {} on", epoch + 1);
  }
}

void QatModifier::on_step_end(train::TrainContext& ctx) {
  if (!state_.options.learn_scale) return;
  at::NoGradGuard no_grad;
  for (auto& q : state_.quantizers) ctx.model->tensors.at(q.scale).clamp_min_(kScaleEps);
}

std::string QatModifier::step_trace() const {
  std::string out;
  for (const auto& o : observers_) {
    if (!o || o->empty()) continue;
    auto [lo, hi] = o->range();
    for (const at::Tensor& v : {lo, hi}) {
      char s[32];
      std::snprintf(s, sizeof s, "%.9g", v.item<double>());
      out += (out.empty() ? "" : ",") + std::string(s);
    }
  }
  return out;
}

void QatModifier::on_train_end(train::TrainContext& ctx) {
  ir::Model& m = *ctx.model;
  if (!observers_frozen_ && !state_.options.learn_scale) {  // weight ranges of the final weights
    at::NoGradGuard no_grad;
    for (auto& q : state_.quantizers) {
      if (!q.weight) continue;
      ir::Value* v = m.graph.find_value(q.values.at(0));
      at::Tensor w = v ? static_value(m, v) : at::Tensor();
      if (!w.defined()) continue;
      auto [lo, hi] = tensor_range(q.spec, w);
      write_qparams(m, q, compute_qparams(q.spec, lo, hi));
    }
  }
  convert_qat(m);
  spdlog::info("qat: converted ({} BatchNorms folded, {} binary and {} ternary weights)", state_.folded_batch_norms,
               state_.binary_weights, state_.ternary_weights);
}

}  // namespace mc::quant
