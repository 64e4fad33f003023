// Aliasing and in-place ops in the TorchScript importer, with PyTorch's semantics: a tensor is an
// Alias, a chain of view steps over a Storage (see torchscript_internal.h). View ops add steps;
// reshape/flatten add them only where PyTorch can view the layout (strides at the import shape)
// and contiguous returns its input only where it is contiguous, as PyTorch does; otherwise they
// and clone start new memory. An in-place op computes its result out of place, then writes it back
// through the inverse of every step (reshape back, transpose back, split -> cat with the other
// parts) into a new base; every alias is re-read from that base when it is next used (Importer::get).
#include <ATen/TensorUtils.h>

#include <unordered_set>

#include "common/error.h"
#include "frontend/torchscript_internal.h"
#include "ir/ops/ops.h"

namespace mc::frontend::ts {

namespace {

using Ints = std::vector<int64_t>;

Ints contiguous_strides(const ir::Shape& s) {
  Ints st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * std::max<int64_t>(s[i], 1);
  return st;
}

int64_t wrap_dim(int64_t d, size_t rank) { return d < 0 ? d + static_cast<int64_t>(rank) : d; }

/// Strides of a step's output, or nullopt where PyTorch would copy (reshape of a layout that no
/// strides can view).
c10::optional<Ints> step_strides(const ViewStep& s, const ir::Shape& in, const Ints& st, const ir::Shape& out) {
  if (s.op == "reshape" || s.op == "flatten") return at::detail::computeStride(in, st, out);
  if (s.op == "split") return st;
  Ints r = st;
  if (s.op == "index_select") {  // a strided slice x[a:b:step] (the importer emits no other index_select as a view)
    const Ints& idx = s.attrs.is("index");
    const size_t d = static_cast<size_t>(wrap_dim(s.attrs.i("dim"), st.size()));
    if (idx.size() > 1) r.at(d) *= idx[1] - idx[0];
    return r;
  }
  if (s.op == "transpose") {
    std::swap(r.at(static_cast<size_t>(wrap_dim(s.attrs.i("dim0"), st.size()))),
              r.at(static_cast<size_t>(wrap_dim(s.attrs.i("dim1"), st.size()))));
  } else if (s.op == "permute") {
    const Ints& dims = s.attrs.is("dims");
    for (size_t i = 0; i < dims.size(); ++i) r.at(i) = st.at(static_cast<size_t>(wrap_dim(dims[i], st.size())));
  } else if (s.op == "squeeze") {
    Ints dims = s.attrs.is("dims");
    for (int64_t& d : dims) d = wrap_dim(d, st.size());
    std::sort(dims.rbegin(), dims.rend());
    for (int64_t d : dims) r.erase(r.begin() + d);
  } else if (s.op == "unsqueeze") {
    size_t d = static_cast<size_t>(wrap_dim(s.attrs.i("dim"), st.size() + 1));
    r.insert(r.begin() + static_cast<int64_t>(d), d < st.size() ? in[d] * st[d] : 1);
  } else {
    throw Error("internal: view step '" + s.op + "' has no stride rule");
  }
  return r;
}

bool is_contiguous(const ir::Value* v, const Ints& strides, at::MemoryFormat fmt) {
  auto meta = at::empty_strided(v->shape(), strides, at::TensorOptions().device(at::kMeta));
  return meta.is_contiguous(fmt);
}

/// aten ops (base names) whose output shares its input's memory in PyTorch.
bool is_view_op(const std::string& kind) {
  static const std::unordered_set<std::string> ops = {
      "aten::view", "aten::reshape", "aten::flatten", "aten::permute", "aten::transpose", "aten::t",
      "aten::squeeze", "aten::unsqueeze", "aten::slice", "aten::select", "aten::narrow", "aten::chunk",
      "aten::unsafe_chunk", "aten::split", "aten::unsafe_split", "aten::split_with_sizes",
      "aten::unsafe_split_with_sizes", "aten::detach", "aten::alias", "aten::contiguous"};
  return ops.count(kind) != 0;
}

bool is_dropout(const std::string& kind) { return kind.find("dropout") != std::string::npos; }

}  // namespace

AVal AVal::tensor(ir::Value* v, std::string param) {
  AVal a;
  a.kind = Kind::Tensor;
  a.value = v;
  auto s = std::make_shared<Storage>();
  s->base = v;
  s->param = std::move(param);
  a.alias = std::make_shared<Alias>();
  a.alias->storage = std::move(s);
  a.alias->strides = v->type().has_shape ? contiguous_strides(v->shape()) : Ints{};
  a.alias->chain = {v};
  return a;
}

bool is_inplace_kind(const std::string& kind) {
  return kind.size() > 2 && kind.back() == '_' && kind.compare(kind.size() - 2, 2, "__") != 0;
}

ir::Value* Importer::replay(const ViewStep& s, ir::Value* x) {
  ir::Value* y = emit_node(s.op, {x}, s.attrs, s.nout)->output(s.index);
  set_batch_major(y, s.batch_major);
  return y;
}

void Importer::sync(AVal& a) {
  if (a.is_seq()) {
    for (AVal& e : *a.elems) sync(e);
    return;
  }
  if (!a.is_tensor() || !a.alias) return;
  Alias& al = *a.alias;
  if (al.version != al.storage->version) {
    al.chain = {al.storage->base};
    for (const ViewStep& s : al.steps) al.chain.push_back(replay(s, al.chain.back()));
    al.version = al.storage->version;
  }
  a.value = al.chain.back();
}

/// The steps from `from` to `to` (single-input IR nodes, as the view handlers emit them), with
/// the value after each; false if `to` is not reached that way from `from`.
namespace {
bool walk_back(const Importer& im, const ir::Value* from, ir::Value* to, std::vector<ViewStep>& steps,
               std::vector<ir::Value*>& vals) {
  for (ir::Value* cur = to; cur != from;) {
    ir::Node* p = cur->producer();
    if (!p || p->inputs().size() != 1) return false;
    steps.insert(steps.begin(), ViewStep{p->op(), p->attrs(), p->outputs().size(), cur->output_index(), im.batch_major(cur)});
    vals.insert(vals.begin(), cur);
    cur = p->input(0);
  }
  return true;
}
}  // namespace

AVal Importer::view_of(const AVal& src, ir::Value* out) {
  std::vector<ViewStep> steps;
  std::vector<ir::Value*> vals;
  if (!walk_back(*this, src.value, out, steps, vals))
    throw Error("internal: a view op's output is not a chain of single-input ops on its input");
  auto a = std::make_shared<Alias>(*src.alias);
  const ir::Value* in = src.value;
  for (size_t i = 0; i < steps.size(); ++i) {
    auto st = step_strides(steps[i], in->shape(), a->strides, vals[i]->shape());
    if (!st) return AVal::tensor(out);  // PyTorch copies here: new memory
    a->strides = std::move(*st);
    a->steps.push_back(steps[i]);
    a->chain.push_back(vals[i]);
    in = vals[i];
  }
  AVal r = src;
  r.value = out;
  r.alias = std::move(a);
  return r;
}

void Importer::bind_views(const std::string& kind, const std::vector<AVal>& in, std::vector<AVal>& out) {
  if (in.empty() || !in[0].is_tensor()) return;
  const AVal& src = in[0];
  bool eval_mode = in.size() > 2 && in[2].is_const() && in[2].iv.isBool() && !in[2].iv.toBool();
  if (is_dropout(kind) && eval_mode && !is_inplace_kind(node_->kind().toQualString()) && out[0].is_tensor()) {
    // Eager PyTorch returns the input itself in eval mode; TorchScript's schema (and optimiser)
    // says a new tensor. Which one a later in-place write sees is ambiguous: such writes are refused.
    src.alias->storage->ambiguous = out[0].alias->storage->ambiguous = where(node_);
    return;
  }
  if (!is_view_op(kind)) return;
  if (kind == "aten::contiguous") {
    at::MemoryFormat fmt = at::MemoryFormat::Contiguous;
    if (in.size() > 1 && in[1].is_const() && in[1].iv.isInt()) fmt = static_cast<at::MemoryFormat>(in[1].iv.toInt());
    if (is_contiguous(src.value, src.alias->strides, fmt)) out[0] = src;  // PyTorch returns self
    return;  // otherwise a copy: the handler's fresh tensor
  }
  for (AVal& o : out) {
    if (o.is_tensor()) o = view_of(src, o.value);
    if (o.is_seq())
      for (AVal& e : *o.elems)
        if (e.is_tensor()) e = view_of(src, e.value);
  }
}

ir::Value* Importer::invert(const ViewStep& s, ir::Value* in, ir::Value* out, ir::Value* now) {
  ir::Value* r = nullptr;
  if (s.op == "reshape" || s.op == "flatten" || s.op == "squeeze" || s.op == "unsqueeze") {
    Ints shape = in->shape();
    if (batch_major(in) && !shape.empty()) shape[0] = -1;
    ir::Attrs a;
    a.set("shape", shape);
    r = emit_node("reshape", {now}, a, 1)->output();
  } else if (s.op == "transpose") {
    r = emit_node("transpose", {now}, s.attrs, 1)->output();
  } else if (s.op == "permute") {
    const Ints& dims = s.attrs.is("dims");
    Ints inv(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) inv.at(static_cast<size_t>(wrap_dim(dims[i], dims.size()))) = static_cast<int64_t>(i);
    ir::Attrs a;
    a.set("dims", inv);
    r = emit_node("permute", {now}, a, 1)->output();
  } else if (s.op == "split") {
    ir::Node* p = out->producer();  // after a write, `out` may be the written value: split `in` again
    if (!p || p->op() != "split" || p->input(0) != in || !(p->attrs() == s.attrs)) p = emit_node("split", {in}, s.attrs, s.nout);
    std::vector<ir::Value*> parts = p->outputs();
    parts.at(s.index) = now;
    ir::Attrs a;
    a.set("dim", s.attrs.i("dim"));
    r = emit_node("cat", parts, a, 1)->output();
  } else if (s.op == "index_select") {
    throw InputError("in-place write through a strided slice (x[a:b:step] with step > 1) at " + where(node_) +
                     " is not supported; compute the result out of place (e.g. with torch.cat)");
  } else {
    throw Error("internal: view step '" + s.op + "' has no inverse");
  }
  set_batch_major(r, batch_major(in));
  return r;
}

AVal Importer::write_inplace(const torch::jit::Node* n, const std::string& kind, const AVal& self, const AVal& result) {
  const std::string op = n->kind().toQualString();
  const std::string hint = "use the out-of-place op instead (e.g. `y = y + x` for `y += x`, `y = y.relu()` for `y.relu_()`)";
  if (!self.is_tensor()) {
    std::string buf = self.is_const() && self.iv.isTensor() ? buffer_of(self.iv.toTensor()) : "";
    fail(n, "in-place '" + op + "' writes model data into " + (buf.empty() ? "a constant tensor" : "buffer '" + buf + "'"),
         hint);
  }
  if (!self.alias->storage->param.empty())
    fail(n, "in-place '" + op + "' changes parameter '" + self.alias->storage->param + "'",
         "a model that changes its weights in forward cannot be imported; " + hint);
  if (!result.is_tensor()) fail(n, "in-place '" + op + "' has no tensor result");
  if (!self.alias->storage->ambiguous.empty())
    fail(n, "in-place '" + op + "' on a tensor that shares memory with a dropout output (dropout at " +
                self.alias->storage->ambiguous + ")",
         "in eval mode eager PyTorch returns dropout's input while TorchScript treats the output as a new tensor, "
         "so the write's effect is ambiguous; " + hint);
  if (is_view_op(kind)) {  // squeeze_, transpose_, ...: the tensor becomes the view
    *self.alias = *result.alias;
    AVal r = self;
    r.value = result.value;
    return r;
  }
  if (result.value->type() != self.value->type())
    fail(n, "in-place '" + op + "' gives a " + ir::type_str(result.value->type()) + " result for a " +
                ir::type_str(self.value->type()) + " tensor",
         "PyTorch cannot write that result in place either; " + hint);
  AVal cur = self;
  sync(cur);  // its chain is current
  Alias& a = *cur.alias;
  std::vector<ir::Value*> now(a.chain.size());
  now.back() = result.value;
  for (size_t i = a.steps.size(); i-- > 0;) now[i] = invert(a.steps[i], a.chain[i], a.chain[i + 1], now[i + 1]);
  a.storage->base = now[0];
  a.version = ++a.storage->version;  // every other alias re-reads its steps from the new base (sync)
  a.chain = std::move(now);          // this one has them: now[i + 1] is step i of now[i]
  AVal r = self;
  r.value = result.value;
  return r;
}

void Importer::check_constant_inplace(const torch::jit::Node* n, const std::vector<AVal>& in) {
  const std::string kind = n->kind().toQualString();
  if (!is_inplace_kind(kind) || in.empty() || !in[0].is_const() || !in[0].iv.isTensor()) return;
  std::string buf = buffer_of(in[0].iv.toTensor());
  if (!buf.empty())
    fail(n, "in-place '" + kind + "' changes buffer '" + buf + "' of the module in forward",
         "only models that keep no state across calls can be imported; compute a new tensor instead");
}

std::string Importer::buffer_of(const at::Tensor& t) const {
  for (const auto& [path, buf] : module_tensors_)
    if (t.defined() && buf.defined() && t.is_alias_of(buf)) return path;
  return "";
}

}  // namespace mc::frontend::ts
