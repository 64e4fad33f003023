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

using Attrs = ir::Attrs;
using Ints = std::vector<int64_t>;

int64_t rank(const ir::Value* v) { return v->type().rank(); }
int64_t wrap(OpCtx& c, int64_t d, int64_t r) {
  int64_t w = d < 0 ? d + r : d;
  if (w < 0 || w >= r) c.fail("dim " + std::to_string(d) + " out of range for rank " + std::to_string(r));
  return w;
}
Ints pair(OpCtx& c, size_t k) {
  Ints v = c.ints(k);
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) c.fail("argument " + std::to_string(k) + " must have 2 values (only 2-d ops are supported)");
  return v;
}
Attrs attrs(std::initializer_list<std::pair<const char*, ir::Attr>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}
ir::Value* const_tensor(OpCtx& c, at::Tensor t) { return c.im.materialize(AVal::constant(t), nullptr); }
/// The first IR tensor among the inputs (for the dtype of scalar constants).
const ir::Value* ir_like(OpCtx& c) {
  for (auto& a : c.in)
    if (a.is_tensor()) return a.value;
  return nullptr;
}

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
void alias(OpCtx& c) { c.out[0] = c.in[0]; }
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

// ---- data movement ----
void cat(OpCtx& c) {
  auto items = c.list(0);
  const ir::Value* like = nullptr;
  for (auto& a : items)
    if (a.is_tensor()) like = a.value;
  std::vector<ir::Value*> ins;
  for (auto& a : items) {
    if (a.is_tensor()) ins.push_back(a.value);
    else if (a.is_const() && a.iv.isTensor()) ins.push_back(c.im.materialize(a, like));
    else c.fail("list element is not a tensor");
  }
  if (ins.empty()) c.fail("empty list");
  c.set(c.emit("cat", ins, attrs({{"dim", c.i(1)}})));
}
void flatten(OpCtx& c) {
  c.set(c.emit("flatten", {c.t(0)}, attrs({{"start_dim", c.size() > 1 ? c.i(1) : 0}, {"end_dim", c.size() > 2 ? c.i(2) : -1}})));
}
// view/reshape(x, shape). Dim 0: an int from x.size(0) of a batch-major x becomes 0 ("copy the
// batch dim"); another multiple of the batch (B * num_windows, or B when x holds k x B rows)
// becomes -1 (inferred) when no other entry is -1; the output records what its dim 0 is (batch,
// k x batch).
void reshape(OpCtx& c) {
  ir::Value* x = c.t(0);
  std::vector<bool> tags;
  std::vector<int64_t> times;
  Ints shape = c.ints(1, &tags, &times);
  for (int64_t s : shape)
    if (s == 0) c.fail("reshape to a size-0 dim is not supported");
  const bool x_batch = c.batch_major(x) || c.im.batch_times(x) > 1;
  const bool inferred = std::count(shape.begin(), shape.end(), -1) > 0;
  int64_t out_times = 0;  // dim 0 of the output: 1 the batch, k > 1 k x the batch, 0 neither
  if (!shape.empty()) {
    // A tagged entry is k x the batch at every batch size; -1 infers it from x's size, which is
    // the same wherever the model accepts that batch (also where x's dim 0 was not tracked, as
    // after Swin's qkv permute + select).
    const int64_t k = tags[0] ? 1 : times[0];
    if (k == 1 && c.batch_major(x)) {
      shape[0] = 0, out_times = 1;
    } else if (k >= 1 && !inferred) {
      shape[0] = -1, out_times = k;
    }
  }
  ir::Value* y = c.emit("reshape", {x}, attrs({{"shape", shape}}));
  if (!shape.empty() && shape[0] == -1 && x_batch && out_times == 0) {  // -1 at dim 0: the rest is fixed
    const int64_t d = y->shape()[0], b = c.im.import_batch();
    if (b > 0 && d % b == 0) out_times = d / b;
  }
  c.im.set_batch_times(y, out_times);
  c.set(y);
}
void permute(OpCtx& c) {
  Ints dims = c.ints(1);
  ir::Value* y = c.emit("permute", {c.t(0)}, attrs({{"dims", dims}}));
  if (!dims.empty() && wrap(c, dims[0], rank(y)) != 0) c.im.set_batch_major(y, false);
  c.set(y);
}
void transpose(OpCtx& c) {
  ir::Value* x = c.t(0);
  int64_t d0 = 0, d1 = 1;
  if (c.kind == "aten::t") {
    if (rank(x) < 2) return alias(c);
  } else {
    d0 = wrap(c, c.i(1), rank(x));
    d1 = wrap(c, c.i(2), rank(x));
  }
  ir::Value* y = c.emit("transpose", {x}, attrs({{"dim0", d0}, {"dim1", d1}}));
  if (d0 == 0 || d1 == 0) c.im.set_batch_major(y, false);
  c.set(y);
}
void split(OpCtx& c) {  // chunk(x, chunks, dim) / split(x, size|sizes, dim) / split_with_sizes(x, sizes, dim)
  ir::Value* x = c.t(0);
  int64_t dim = wrap(c, c.i(2), rank(x)), n = x->shape()[static_cast<size_t>(dim)];
  Ints sizes;
  bool chunk = c.kind == "aten::chunk" || c.kind == "aten::unsafe_chunk";
  if (!chunk && !(c.in[1].is_const() && c.in[1].iv.isInt())) {
    sizes = c.ints(1);
  } else {
    int64_t k = c.i(1);
    if (k <= 0) c.fail("chunk/split size must be positive");
    int64_t step = chunk ? (n + k - 1) / k : k;
    for (int64_t rest = n; rest > 0; rest -= step) sizes.push_back(std::min(step, rest));
    if (sizes.empty()) sizes.push_back(0);
  }
  ir::Node* s = c.emit_node("split", {x}, attrs({{"dim", dim}, {"sizes", sizes}}), sizes.size());
  std::vector<AVal> parts;
  for (ir::Value* v : s->outputs()) parts.push_back(AVal::tensor(v));
  c.out[0] = AVal::seq(std::move(parts), c10::ListType::ofTensors());
}
/// x[start:end] along dim, expressed with split (the IR has no slice op).
ir::Value* slice(OpCtx& c, ir::Value* x, int64_t dim, int64_t start, int64_t end) {
  int64_t d = wrap(c, dim, rank(x)), n = x->shape()[static_cast<size_t>(d)];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  end = std::min(std::max(end, start), n);
  if (start == 0 && end == n) return x;
  if (end == start) c.fail("empty slice");
  Ints sizes;
  size_t mid = 0;
  if (start > 0) sizes.push_back(start), mid = 1;
  sizes.push_back(end - start);
  if (end < n) sizes.push_back(n - end);
  return c.emit_node("split", {x}, attrs({{"dim", d}, {"sizes", sizes}}), sizes.size())->output(mid);
}
/// index_select of the constant positions `idx` along dim d (a view step when they are a strided
/// range, see torchscript_alias.cpp).
ir::Value* index_select(OpCtx& c, ir::Value* x, int64_t d, const Ints& idx) {
  if (d == 0 && c.batch_major(x)) c.fail("indexing the batch dim is not supported; index another dim");
  return c.emit("index_select", {x}, attrs({{"dim", d}, {"index", idx}}));
}
void slice_op(OpCtx& c) {  // slice(x, dim, start, end, step); a step > 1 is an index_select of the range
  int64_t step = c.size() > 4 && !c.none(4) ? c.i(4) : 1;
  if (step <= 0) c.fail("slice step must be positive");
  int64_t start = c.none(2) ? 0 : c.i(2), end = c.none(3) ? INT64_MAX : c.i(3);
  ir::Value* y = slice(c, c.t(0), c.i(1), start, end);
  if (step > 1) {
    int64_t d = wrap(c, c.i(1), rank(y)), n = y->shape()[static_cast<size_t>(d)];
    Ints idx;
    for (int64_t i = 0; i < n; i += step) idx.push_back(i);
    y = index_select(c, y, d, idx);
  }
  c.set(y);
}
/// The values of a constant integer index tensor, wrapped into [0, size) (as PyTorch does for
/// negative ones).
Ints const_index(OpCtx& c, const AVal& a, int64_t size) {
  if (!a.is_const() || !a.iv.isTensor())
    c.fail("the index is computed from model data; only constant indices (buffers, shapes) are supported");
  at::Tensor t = a.iv.toTensor();
  if (at::isFloatingType(t.scalar_type()) || t.scalar_type() == at::kBool)
    c.fail("a " + std::string(c10::toString(t.scalar_type())) + " index is not supported (integer indices only)");
  t = t.to(at::kLong).contiguous().flatten();
  Ints idx(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  for (int64_t& i : idx) {
    if (i < -size || i >= size) c.fail("index " + std::to_string(i) + " is out of range for a dim of size " + std::to_string(size));
    if (i < 0) i += size;
  }
  if (idx.empty()) c.fail("empty index");
  return idx;
}
void index_select_op(OpCtx& c) {  // index_select(x, dim, index)
  ir::Value* x = c.t(0);
  int64_t d = wrap(c, c.i(1), rank(x));
  if (c.in[2].is_const() && c.in[2].iv.isTensor() && c.in[2].iv.toTensor().dim() > 1) c.fail("the index must be 1-d");
  c.set(index_select(c, x, d, const_index(c, c.in[2], x->shape()[static_cast<size_t>(d)])));
}
void index(OpCtx& c) {  // index(x, [None, ..., idx]): x[..., idx] with one constant integer index tensor
  ir::Value* x = c.t(0);
  auto items = c.list(1);
  int64_t d = -1;
  for (size_t k = 0; k < items.size(); ++k) {
    if (items[k].is_none()) continue;
    if (d >= 0)
      c.fail("advanced indexing with more than one index tensor is not supported; index with one tensor (e.g. over "
             "the flattened dims)");
    d = static_cast<int64_t>(k);
  }
  if (d < 0 || d >= rank(x)) c.fail("no index tensor");
  const at::Tensor shape_of = items[static_cast<size_t>(d)].is_const() && items[static_cast<size_t>(d)].iv.isTensor()
                                  ? items[static_cast<size_t>(d)].iv.toTensor()
                                  : at::Tensor();
  ir::Value* y = index_select(c, x, d, const_index(c, items[static_cast<size_t>(d)], x->shape()[static_cast<size_t>(d)]));
  if (shape_of.dim() != 1) {  // x[idx] has idx's shape in place of dim d
    Ints shape(x->shape().begin(), x->shape().begin() + d);
    shape.insert(shape.end(), shape_of.sizes().begin(), shape_of.sizes().end());
    shape.insert(shape.end(), x->shape().begin() + d + 1, x->shape().end());
    if (c.batch_major(x)) shape[0] = 0;
    y = c.emit("reshape", {y}, attrs({{"shape", shape}}));
    if (!c.batch_major(x)) c.im.set_batch_major(y, false);
  }
  c.set(y);
}
void roll(OpCtx& c) {  // roll(x, shifts, dims): per dim, the last `shift` entries move to the front (split + cat)
  ir::Value* x = c.t(0);
  Ints shifts = c.ints(1), dims = c.ints(2);
  if (dims.empty() || dims.size() != shifts.size())
    c.fail("roll without dims (over the flattened tensor) or with unequal shifts and dims is not supported; give "
           "one shift per dim");
  for (size_t k = 0; k < dims.size(); ++k) {
    int64_t d = wrap(c, dims[k], rank(x)), n = x->shape()[static_cast<size_t>(d)];
    if (d == 0 && c.batch_major(x))
      c.fail("rolling the batch dim is not supported (it would mix the samples of a batch); roll another dim");
    int64_t s = ((shifts[k] % n) + n) % n;
    if (s == 0) continue;
    ir::Node* parts = c.emit_node("split", {x}, attrs({{"dim", d}, {"sizes", Ints{n - s, s}}}), 2);
    x = c.emit("cat", {parts->output(1), parts->output(0)}, attrs({{"dim", d}}));
  }
  c.set(x);  // new memory, as roll's result is (also when every shift is 0)
}
void narrow(OpCtx& c) {  // narrow(x, dim, start, length)
  ir::Value* x = c.t(0);
  int64_t d = wrap(c, c.i(1), rank(x)), start = c.i(2);
  if (start < 0) start += x->shape()[static_cast<size_t>(d)];
  c.set(slice(c, x, d, start, start + c.i(3)));
}
void select(OpCtx& c) {  // select(x, dim, index) = x[index] along dim
  ir::Value* x = c.t(0);
  int64_t d = wrap(c, c.i(1), rank(x)), idx = c.i(2);
  if (idx < 0) idx += x->shape()[static_cast<size_t>(d)];
  ir::Value* s = slice(c, x, d, idx, idx + 1);
  c.set(c.emit("squeeze", {s}, attrs({{"dims", Ints{d}}})));
}
void squeeze(OpCtx& c) {
  ir::Value* x = c.t(0);
  const auto& s = x->shape();
  Ints dims;
  if (c.size() > 1) {
    int64_t d = wrap(c, c.i(1), rank(x));
    if (s[static_cast<size_t>(d)] == 1) dims.push_back(d);
  } else {
    for (int64_t d = 0; d < rank(x); ++d)  // keep the batch dim: it is 1 only at import time
      if (s[static_cast<size_t>(d)] == 1 && !(d == 0 && c.batch_major(x))) dims.push_back(d);
  }
  if (dims.empty()) return alias(c);
  c.set(c.emit("squeeze", {x}, attrs({{"dims", dims}})));
}
void unsqueeze(OpCtx& c) {
  ir::Value* x = c.t(0);
  int64_t d = c.i(1);
  if (d < 0) d += rank(x) + 1;
  ir::Value* y = c.emit("unsqueeze", {x}, attrs({{"dim", d}}));
  if (d == 0) c.im.set_batch_major(y, false);
  c.set(y);
}
void expand(OpCtx& c) {  // expand(x, sizes, implicit) / expand_as(x, other)
  ir::Value* x = c.t(0);
  ir::Value* ref = nullptr;
  Ints shape, sizes;  // sizes: at the import shape
  std::vector<bool> tags;
  const bool as = c.kind == "aten::expand_as";
  if (as) {
    ref = c.t(1, x);
    sizes = ref->shape();
    shape.assign(sizes.size(), 0);  // every dim of other's, the batch included
    tags.assign(sizes.size(), false);
  } else {
    shape = sizes = c.ints(1, &tags);
  }
  const int64_t lead = static_cast<int64_t>(shape.size()) - rank(x);
  if (lead < 0) c.fail("the expanded shape has fewer dims than the input " + ir::shape_str(x->shape()));
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    const size_t k = static_cast<size_t>(i);
    if (!as && sizes[k] == 0) c.fail("expanding to a size-0 dim is not supported");
    const bool batch = tags[k] && i == 0;  // x.size(0) of a batch-major tensor: the batch
    const bool keeps = i >= lead && (sizes[k] == -1 || sizes[k] == x->shape()[k - lead]);
    if (keeps && !(batch && !c.batch_major(x))) shape[k] = -1;  // the input's own dim
    else if (batch) shape[k] = 0, ref = c.im.batch_source();     // the dynamic batch of the model input
  }
  std::vector<ir::Value*> ins{x};
  bool uses_ref = std::find(shape.begin(), shape.end(), 0) != shape.end();
  if (uses_ref) ins.push_back(ref);
  ir::Value* y = c.emit("expand", ins, attrs({{"shape", shape}}));
  c.im.set_batch_major(y, (uses_ref && shape[0] == 0 && c.batch_major(ref)) || (lead == 0 && shape[0] == -1 && c.batch_major(x)));
  c.set(y);
}
void pad(OpCtx& c) {  // constant_pad_nd(x, pad, value) / pad(x, pad, mode, value) / reflection_pad2d(x, pad)
  std::string mode = "constant";
  double value = 0.0;
  if (c.kind == "aten::reflection_pad2d") mode = "reflect";
  else if (c.kind == "aten::replication_pad2d") mode = "replicate";
  else if (c.kind == "aten::constant_pad_nd") value = c.size() > 2 ? c.f(2) : 0.0;
  else {
    mode = c.s(2);
    value = c.none(3) ? 0.0 : c.f(3);
  }
  c.set(c.emit("pad", {c.t(0)}, attrs({{"pads", c.ints(1)}, {"mode", mode}, {"value", value}})));
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
      {"aten::cat", cat}, {"aten::concat", cat}, {"aten::flatten", flatten}, {"aten::view", reshape},
      {"aten::reshape", reshape}, {"aten::permute", permute}, {"aten::transpose", transpose},
      {"aten::t", transpose}, {"aten::chunk", split}, {"aten::unsafe_chunk", split}, {"aten::split", split},
      {"aten::unsafe_split", split}, {"aten::split_with_sizes", split}, {"aten::unsafe_split_with_sizes", split},
      {"aten::slice", slice_op}, {"aten::index", index}, {"aten::index_select", index_select_op}, {"aten::roll", roll},
      {"aten::select", select}, {"aten::narrow", narrow}, {"aten::squeeze", squeeze},
      {"aten::unsqueeze", unsqueeze}, {"aten::expand", expand}, {"aten::expand_as", expand}, {"aten::constant_pad_nd", pad}, {"aten::pad", pad},
      {"aten::reflection_pad2d", pad}, {"aten::replication_pad2d", pad},
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
  auto fused = attention_op_handlers().find(kind);
  return fused == attention_op_handlers().end() ? nullptr : fused->second;
}

}  // namespace mc::frontend::ts
