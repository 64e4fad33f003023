// The aten -> IR op table of the TorchScript importer. Each handler reads the node's abstract
// inputs (IR tensors and constants) and emits IR ops with attributes taken from the constant
// inputs. In-place variants (relu_, add_, ...) reach the handler of their base name, which
// computes the result out of place; the interpreter writes it into the tensor's memory, and makes
// the outputs of view ops views (torchscript_alias.cpp). Ops on constants only never get here (they
// are folded).
#include <algorithm>
#include <cfloat>
#include <map>

#include "common/error.h"
#include "frontend/torchscript_internal.h"
#include "frontend/torchscript_op_util.h"
#include "ir/ops/ops.h"

namespace mc::frontend::ts {

// ---------------------------------------------------------------------------------------------
// OpCtx: access to the inputs of the node being mapped.

ir::Value* OpCtx::t(size_t k, const ir::Value* like) {
  if (k >= in.size()) fail("input " + std::to_string(k) + " is missing");
  const AVal& a = in[k];
  if (a.is_tensor()) return a.value;
  if (a.is_const() && a.iv.isTensor()) return im.materialize(a, like);
  if (a.is_const() && (a.iv.isDouble() || a.iv.isInt() || a.iv.isBool())) return im.scalar(a.iv.toScalar().toDouble(), like);
  fail("input " + std::to_string(k) + " is not a tensor");
}

int64_t OpCtx::i(size_t k) const {
  if (k < in.size() && in[k].is_const() && (in[k].iv.isInt() || in[k].iv.isBool()))
    return in[k].iv.isInt() ? in[k].iv.toInt() : in[k].iv.toBool();
  fail("argument " + std::to_string(k) + " must be a constant int");
}

double OpCtx::f(size_t k) const {
  if (k < in.size() && in[k].is_const() && (in[k].iv.isDouble() || in[k].iv.isInt())) return in[k].iv.toScalar().toDouble();
  fail("argument " + std::to_string(k) + " must be a constant number");
}

bool OpCtx::b(size_t k) const {
  if (k < in.size() && in[k].is_const() && (in[k].iv.isBool() || in[k].iv.isInt()))
    return in[k].iv.isBool() ? in[k].iv.toBool() : in[k].iv.toInt() != 0;
  fail("argument " + std::to_string(k) + " must be a constant bool");
}

std::string OpCtx::s(size_t k) const {
  if (k < in.size() && in[k].is_const() && in[k].iv.isString()) return in[k].iv.toStringRef();
  fail("argument " + std::to_string(k) + " must be a constant string");
}

std::vector<AVal> OpCtx::list(size_t k) const {
  if (k < in.size() && in[k].is_seq()) return *in[k].elems;
  std::vector<AVal> out;
  if (k < in.size() && in[k].is_const() && in[k].iv.isList())
    for (auto& e : in[k].iv.toListRef()) out.push_back(AVal::constant(e));
  else if (k < in.size() && in[k].is_const() && in[k].iv.isTuple())
    for (auto& e : in[k].iv.toTupleRef().elements()) out.push_back(AVal::constant(e));
  else
    fail("argument " + std::to_string(k) + " must be a list");
  return out;
}

std::vector<int64_t> OpCtx::ints(size_t k, std::vector<bool>* tags, std::vector<int64_t>* times) const {
  std::vector<AVal> items;
  if (k < in.size() && in[k].is_const() && in[k].iv.isInt())
    items.push_back(in[k]);
  else
    items = list(k);
  std::vector<int64_t> out;
  for (auto& a : items) {
    if (!a.is_const() || !a.iv.isInt()) fail("argument " + std::to_string(k) + " must be a list of constant ints");
    out.push_back(a.iv.toInt());
    if (tags) tags->push_back(a.batch);
    if (times) times->push_back(a.batch_times);
  }
  return out;
}

ir::Node* OpCtx::emit_node(const std::string& op, const std::vector<ir::Value*>& ins, ir::Attrs a, size_t nout) {
  return im.emit_node(op, ins, std::move(a), nout);
}
ir::Node* OpCtx::emit_node_at(const std::string& sub, const std::string& op, const std::vector<ir::Value*>& ins,
                              ir::Attrs a, size_t nout) {
  const std::string saved = im.scope_;
  im.scope_ += saved.empty() && !sub.empty() && sub[0] == '.' ? sub.substr(1) : sub;
  ir::Node* n = nullptr;
  try {
    n = im.emit_node(op, ins, std::move(a), nout);
  } catch (...) {
    im.scope_ = saved;
    throw;
  }
  im.scope_ = saved;
  return n;
}
ir::Value* OpCtx::scalar(double v, const ir::Value* like) { return im.scalar(v, like); }
bool OpCtx::batch_major(const ir::Value* v) const { return im.batch_major(v); }
void OpCtx::fail(const std::string& why) const { im.fail(node, "cannot import '" + kind + "': " + why); }

namespace {

// ---- activations and regularisers ----
void unary(OpCtx& c, const char* op, Attrs a = {}) { c.set(c.emit(op, {c.t(0)}, std::move(a))); }
void relu(OpCtx& c) { unary(c, "relu"); }
void sigmoid(OpCtx& c) { unary(c, "sigmoid"); }
void hardsigmoid(OpCtx& c) { unary(c, "hardsigmoid"); }
void hardswish(OpCtx& c) { unary(c, "hardswish"); }
void silu(OpCtx& c) { unary(c, "silu"); }
void tanh_(OpCtx& c) { unary(c, "tanh"); }
void relu6(OpCtx& c) { unary(c, "hardtanh", attrs({{"min_val", 0.0}, {"max_val", 6.0}})); }
void hardtanh(OpCtx& c) {
  unary(c, "hardtanh", attrs({{"min_val", c.size() > 1 ? c.f(1) : -1.0}, {"max_val", c.size() > 2 ? c.f(2) : 1.0}}));
}
void gelu(OpCtx& c) { unary(c, "gelu", attrs({{"approximate", c.none(1) ? std::string("none") : c.s(1)}})); }
void leaky_relu(OpCtx& c) { unary(c, "leaky_relu", attrs({{"negative_slope", c.size() > 1 ? c.f(1) : 0.01}})); }
void softmax(OpCtx& c) {
  if (!c.none(2)) c.fail("a dtype argument is not supported");
  unary(c, c.kind == "aten::softmax" ? "softmax" : "log_softmax", attrs({{"dim", c.i(1)}}));
}
void dropout(OpCtx& c) { unary(c, "dropout", attrs({{"p", c.f(1)}})); }
void copy_of(OpCtx& c) { c.set(c.t(0)); }  // clone (and contiguous, unless it returns its input): new memory
void copy(OpCtx& c) {                       // copy_(self, src, non_blocking): src's values, in self's memory
  ir::Value* self = c.t(0);
  ir::Value* src = c.t(1, self);
  if (src->type() != self->type())
    c.fail("copying a " + ir::type_str(src->type()) + " tensor into a " + ir::type_str(self->type()) +
           " one (broadcast or dtype conversion) is not supported; give the source the destination's shape and dtype");
  c.set(src);
}
void clamp(OpCtx& c) {
  auto bound = [&](size_t k, double dflt) {
    if (c.none(k) || k >= c.size()) return dflt;
    if (!c.in[k].is_const() || c.in[k].iv.isTensor()) c.fail("tensor bounds are not supported");
    return c.f(k);
  };
  double lo = -DBL_MAX, hi = DBL_MAX;
  if (c.kind == "aten::clamp_min") lo = bound(1, lo);
  else if (c.kind == "aten::clamp_max") hi = bound(1, hi);
  else lo = bound(1, lo), hi = bound(2, hi);
  if (lo == 0.0 && hi == DBL_MAX) return unary(c, "relu");
  unary(c, "hardtanh", attrs({{"min_val", std::max(lo, -(double)FLT_MAX)}, {"max_val", std::min(hi, (double)FLT_MAX)}}));
}

// ---- convolution and linear ----
void emit_conv(OpCtx& c, ir::Value* x, size_t bias, Ints stride, Ints padding, Ints dilation, int64_t groups) {
  ir::Value* w = c.t(1);
  if (rank(w) != 4) c.fail("only 2-d convolutions are supported (weight " + ir::shape_str(w->shape()) + ")");
  std::vector<ir::Value*> ins{x, w};
  if (!c.none(bias)) ins.push_back(c.t(bias));
  c.set(c.emit("conv2d", ins, attrs({{"stride", stride}, {"padding", padding}, {"dilation", dilation}, {"groups", groups}})));
}
void convolution(OpCtx& c) {  // traced: _convolution(x, w, b, stride, padding, dilation, transposed, out_pad, groups, ...)
  if (c.b(6)) c.fail("transposed convolution is not supported");
  emit_conv(c, c.t(0), 2, pair(c, 3), pair(c, 4), pair(c, 5), c.i(8));
}
void conv2d(OpCtx& c) {  // conv2d(x, w, b, stride, padding, dilation, groups); padding may be "same"/"valid"
  ir::Value* x = c.t(0);
  Ints dil = pair(c, 5), pad{0, 0};
  if (c.in[4].is_const() && c.in[4].iv.isString()) {
    if (c.s(4) == "same") {
      const auto& ws = c.t(1)->shape();
      Ints pads(4, 0);  // at::pad order: left, right, top, bottom; PyTorch puts the odd one right/bottom
      bool symmetric = true;
      for (int d = 0; d < 2; ++d) {
        int64_t total = dil[d] * (ws.at(2 + d) - 1);
        pad[d] = total / 2;
        pads[2 * (1 - d)] = total / 2;
        pads[2 * (1 - d) + 1] = total - total / 2;
        symmetric = symmetric && total % 2 == 0;
      }
      if (!symmetric) {
        x = c.emit("pad", {x}, attrs({{"pads", pads}}));
        pad = {0, 0};
      }
    } else if (c.s(4) != "valid") {
      c.fail("padding '" + c.s(4) + "' (expected 'same' or 'valid')");
    }
  } else {
    pad = pair(c, 4);
  }
  emit_conv(c, x, 2, pair(c, 3), pad, dil, c.i(6));
}
void linear(OpCtx& c) {
  std::vector<ir::Value*> ins{c.t(0), c.t(1)};
  if (!c.none(2)) ins.push_back(c.t(2));
  c.set(c.emit("linear", ins));
}
void matmul(OpCtx& c) { c.set(c.emit("matmul", {c.t(0), c.t(1)})); }
void embedding(OpCtx& c) {  // embedding(weight, indices, padding_idx, scale_grad_by_freq, sparse)
  ir::Value* ids = c.t(1);
  if (at::isFloatingType(ir::ops::to_scalar_type(ids->type().dtype)))
    c.fail("the indices are " + ir::type_str(ids->type()) + (ids->is_graph_input() ? " (graph input '" + ids->name() + "')" : "") +
           ": token ids must be integers; declare that input int64 (--input-dtype int64, or dtype: int64 in the recipe's input)");
  c.set(c.emit("embedding", {ids, c.t(0)}));
}
void addmm(OpCtx& c) {  // addmm(bias, x, w_t, beta, alpha) = beta * bias + alpha * (x @ w_t)
  double beta = c.size() > 3 ? c.f(3) : 1.0, alpha = c.size() > 4 ? c.f(4) : 1.0;
  ir::Value* x = c.t(1);
  ir::Value* m2 = c.t(2, x);
  ir::Node* p = m2->producer();
  if (beta == 1.0 && alpha == 1.0 && p && p->op() == "transpose" && p->input(0)->producer() &&
      p->input(0)->producer()->op() == "param" && rank(m2) == 2) {
    ir::Value* b = c.t(0, x);
    if (rank(b) == 1) return c.set(c.emit("linear", {x, p->input(0), b}));
  }
  ir::Value* y = c.emit("matmul", {x, m2});
  if (alpha != 1.0) y = c.emit("mul", {y, c.scalar(alpha, y)});
  if (beta == 0.0) return c.set(y);
  ir::Value* b = c.t(0, x);
  if (beta != 1.0) b = c.emit("mul", {b, c.scalar(beta, b)});
  c.set(c.emit("add", {y, b}));
}

// ---- normalisation ----
void batch_norm(OpCtx& c) {  // batch_norm(x, w, b, mean, var, training, momentum, eps, cudnn)
  if (c.none(3) || c.none(4))
    c.fail("batch_norm without running statistics (track_running_stats=False) is not supported");
  if (c.b(5)) c.fail("batch_norm in training mode (the model was not put in eval mode)");
  ir::Value* x = c.t(0);
  if (rank(x) < 2) c.fail("input has no channel dim");
  int64_t ch = x->shape()[1];
  auto opts = at::TensorOptions().dtype(ir::ops::to_scalar_type(x->type().dtype));
  ir::Value* w = c.none(1) ? const_tensor(c, at::ones({ch}, opts)) : c.t(1);
  ir::Value* b = c.none(2) ? const_tensor(c, at::zeros({ch}, opts)) : c.t(2);
  c.set(c.emit("batch_norm", {x, w, b, c.t(3), c.t(4)}, attrs({{"eps", c.f(7)}, {"momentum", c.none(6) ? 0.1 : c.f(6)}})));
}
void layer_norm(OpCtx& c) {  // layer_norm(x, normalized_shape, w, b, eps, cudnn)
  ir::Value* x = c.t(0);
  Ints shape = c.ints(1);
  std::vector<ir::Value*> ins{x};
  auto opts = at::TensorOptions().dtype(ir::ops::to_scalar_type(x->type().dtype));
  if (!c.none(2)) ins.push_back(c.t(2));
  if (!c.none(3)) {
    if (c.none(2)) ins.push_back(const_tensor(c, at::ones(shape, opts)));
    ins.push_back(c.t(3));
  }
  c.set(c.emit("layer_norm", ins, attrs({{"normalized_shape", shape}, {"eps", c.f(4)}})));
}

// ---- dtype conversion ----
/// to(x, dtype, ...), to(x, device, dtype, ...), to(x, other, ...), type_as(x, other); float(),
/// long(), ... reach here as aten::to. The same dtype returns x itself, as PyTorch does.
void to(OpCtx& c) {
  ir::Value* x = c.t(0);
  c10::optional<ir::DType> d;
  if (c.kind == "aten::type_as" || c.is_ir(1)) {
    d = c.t(1)->type().dtype;
  } else if (const c10::FunctionSchema* schema = c.node->maybeSchema()) {
    for (size_t k = 1; k < schema->arguments().size() && k < c.size(); ++k)
      if (schema->arguments()[k].name() == "dtype" && !c.none(k))
        d = ir::ops::from_scalar_type(static_cast<at::ScalarType>(c.i(k)));
  } else {
    c.fail("unknown overload");
  }
  if (!d || *d == x->type().dtype) return alias(c);
  c.set(c.emit("cast", {x}, attrs({{"dtype", ir::dtype_name(*d)}})));
}

// ---- elementwise ----
void add_sub(OpCtx& c) {  // add/sub(self, other, alpha); rsub(self, other, alpha) = other - alpha * self
  const ir::Value* like = ir_like(c);
  bool rsub = c.kind == "aten::rsub";
  double alpha = c.size() > 2 && !c.none(2) ? c.f(2) : 1.0;
  size_t ai = rsub ? 1 : 0, bi = rsub ? 0 : 1;
  ir::Value* a = c.t(ai, like);
  ir::Value* b;
  if (alpha != 1.0 && c.in[bi].is_const() && !c.in[bi].iv.isTensor())
    b = c.scalar(alpha * c.f(bi), like);
  else {
    b = c.t(bi, like);
    if (alpha != 1.0) b = c.emit("mul", {b, c.scalar(alpha, like)});
  }
  c.set(c.emit(c.kind == "aten::add" ? "add" : "sub", {a, b}));
}
void mul(OpCtx& c) {
  const ir::Value* like = ir_like(c);
  c.set(c.emit("mul", {c.t(0, like), c.t(1, like)}));
}
void neg(OpCtx& c) {
  ir::Value* x = c.t(0);
  c.set(c.emit("mul", {x, c.scalar(-1.0, x)}));
}
void div(OpCtx& c) {
  if (c.size() > 2 && !c.none(2)) c.fail("division with a rounding_mode is not supported");
  const ir::Value* like = ir_like(c);
  c.set(c.emit("div", {c.t(0, like), c.t(1, like)}));
}

// ---- comparison and selection ----
void eq(OpCtx& c) {  // eq(self, other), other a tensor or a number (an attention mask's `mask == 0`)
  ir::Value* a = c.t(0);
  c.set(c.emit("eq", {a, c.t(1, a)}));
}
/// where(cond, self, other); masked_fill(self, mask, value) = where(mask, value, self).
void where(OpCtx& c) {
  const bool fill = c.kind == "aten::masked_fill";
  ir::Value* cond = c.t(fill ? 1 : 0);
  if (cond->type().dtype != ir::DType::boolean)
    c.fail("the " + std::string(fill ? "mask" : "condition") + " must be boolean, got " + ir::dtype_name(cond->type().dtype));
  ir::Value* x = fill ? c.t(0) : c.t(1, ir_like(c));
  ir::Value* y = fill ? x : c.t(2, x);
  ir::Value* v = fill ? c.t(2, x) : x;
  for (ir::Value** p : {&v, &y})
    if ((*p)->type().dtype != x->type().dtype) *p = c.emit("cast", {*p}, attrs({{"dtype", ir::dtype_name(x->type().dtype)}}));
  c.set(c.emit("where", {cond, v, y}));
}

// ---- pooling and reductions ----
void max_pool(OpCtx& c) {  // max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
  Ints k = pair(c, 1), s = c.ints(2);
  if (s.empty()) s = k;
  if (s.size() == 1) s.push_back(s[0]);
  c.set(c.emit("max_pool2d", {c.t(0)}, attrs({{"kernel", k}, {"stride", s}, {"padding", pair(c, 3)},
                                                {"dilation", pair(c, 4)}, {"ceil_mode", int64_t(c.b(5))}})));
  if (c.out.size() > 1) c.out[1] = AVal::poison("the indices of max_pool2d are not supported (at " + c.im.where(c.node) + ")");
}
void avg_pool(OpCtx& c) {  // avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
  if (!c.none(6)) c.fail("divisor_override is not supported");
  Ints k = pair(c, 1), s = c.ints(2);
  if (s.empty()) s = k;
  if (s.size() == 1) s.push_back(s[0]);
  c.set(c.emit("avg_pool2d", {c.t(0)}, attrs({{"kernel", k}, {"stride", s}, {"padding", pair(c, 3)},
                                                {"ceil_mode", int64_t(c.b(4))}, {"count_include_pad", int64_t(c.b(5))}})));
}
void adaptive_pool(OpCtx& c) {
  bool avg = c.kind == "aten::adaptive_avg_pool2d";
  c.set(c.emit(avg ? "adaptive_avg_pool2d" : "adaptive_max_pool2d", {c.t(0)}, attrs({{"output_size", pair(c, 1)}})));
  if (c.out.size() > 1) c.out[1] = AVal::poison("the indices of adaptive_max_pool2d are not supported (at " + c.im.where(c.node) + ")");
}
void mean(OpCtx& c) {  // mean(x, dims, keepdim, dtype) or mean(x, dtype)
  ir::Value* x = c.t(0);
  Ints dims;
  bool keep = false;
  if (c.size() >= 4) {
    if (!c.none(3)) c.fail("a dtype argument is not supported");
    if (!c.none(1)) dims = c.ints(1);
    keep = c.b(2);
  } else if (c.size() == 2 && !c.none(1)) {
    c.fail("a dtype argument is not supported");
  }
  if (dims.empty())
    for (int64_t d = 0; d < rank(x); ++d) dims.push_back(d);
  ir::Value* y = c.emit("mean", {x}, attrs({{"dims", dims}, {"keepdim", int64_t(keep)}}));
  for (int64_t d : dims)
    if (wrap(c, d, rank(x)) == 0) c.im.set_batch_major(y, false);
  c.set(y);
}

const std::map<std::string, OpHandler>& table() {
  static const std::map<std::string, OpHandler> t = {
      {"aten::relu", relu}, {"aten::relu6", relu6}, {"aten::hardtanh", hardtanh}, {"aten::sigmoid", sigmoid},
      {"aten::hardsigmoid", hardsigmoid}, {"aten::hardswish", hardswish}, {"aten::silu", silu},
      {"aten::tanh", tanh_}, {"aten::gelu", gelu}, {"aten::leaky_relu", leaky_relu},
      {"aten::softmax", softmax}, {"aten::log_softmax", softmax}, {"aten::clamp", clamp},
      {"aten::clamp_min", clamp}, {"aten::clamp_max", clamp},
      {"aten::dropout", dropout}, {"aten::feature_dropout", dropout}, {"aten::alpha_dropout", dropout},
      {"aten::feature_alpha_dropout", dropout},
      {"aten::contiguous", copy_of}, {"aten::clone", copy_of}, {"aten::detach", alias}, {"aten::alias", alias},
      {"aten::copy", copy},
      {"aten::_convolution", convolution}, {"aten::conv2d", conv2d}, {"aten::linear", linear},
      {"aten::addmm", addmm}, {"aten::matmul", matmul}, {"aten::embedding", embedding},
      {"aten::to", to}, {"aten::type_as", to}, {"aten::mm", matmul}, {"aten::bmm", matmul},
      {"aten::batch_norm", batch_norm}, {"aten::layer_norm", layer_norm},
      {"aten::add", add_sub}, {"aten::sub", add_sub}, {"aten::rsub", add_sub}, {"aten::mul", mul},
      {"aten::div", div}, {"aten::neg", neg}, {"aten::true_divide", div},
      {"aten::eq", eq}, {"aten::where", where}, {"aten::masked_fill", where},
            {"aten::max_pool2d", max_pool}, {"aten::max_pool2d_with_indices", max_pool}, {"aten::avg_pool2d", avg_pool},
      {"aten::adaptive_avg_pool2d", adaptive_pool}, {"aten::adaptive_max_pool2d", adaptive_pool},
      {"aten::mean", mean},
  };
  return t;
}

}  // namespace

OpHandler find_op_handler(const std::string& kind) {
  auto it = table().find(kind);
  if (it != table().end()) return it->second;
  for (const auto* family : {&shape_op_handlers(), &attention_op_handlers()}) {
    auto found = family->find(kind);
    if (found != family->end()) return found->second;
  }
  return nullptr;
}

}  // namespace mc::frontend::ts
