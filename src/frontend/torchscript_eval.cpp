// Compile-time evaluation for the TorchScript importer: nodes whose inputs are all constants run
// through the JIT's own operator implementation (node->getOperation() on a Stack). Ops that read
// only tensor metadata (aten::size, aten::dim, prim::dtype, ...) also run when an input is an IR
// tensor: it is passed as a meta tensor of its static shape. Batch tags (ints equal to the batch
// size, from aten::size(x, 0)) are propagated through the ops that carry such ints unchanged.
#include <algorithm>
#include <unordered_set>

#include "common/error.h"
#include "frontend/torchscript_internal.h"
#include "ir/ops/ops.h"

namespace mc::frontend::ts {

bool AVal::has_ir() const {
  if (kind == Kind::Tensor) return true;
  if (kind == Kind::Seq)
    for (auto& e : *elems)
      if (e.has_ir()) return true;
  return false;
}

c10::optional<c10::IValue> to_ivalue(const AVal& a, bool meta) {
  switch (a.kind) {
    case AVal::Kind::Const: return a.iv;
    case AVal::Kind::Tensor: {
      if (!meta) return c10::nullopt;
      const auto& t = a.value->type();
      return c10::IValue(at::empty(t.shape, at::TensorOptions().device(at::kMeta).dtype(ir::ops::to_scalar_type(t.dtype))));
    }
    case AVal::Kind::Seq: {
      std::vector<c10::IValue> items;
      for (auto& e : *a.elems) {
        auto v = to_ivalue(e, meta);
        if (!v) return c10::nullopt;
        items.push_back(std::move(*v));
      }
      if (a.type && a.type->cast<c10::TupleType>()) return c10::IValue(c10::ivalue::Tuple::create(std::move(items)));
      c10::TypePtr elem = c10::AnyType::get();
      if (a.type)
        if (auto lt = a.type->cast<c10::ListType>()) elem = lt->getElementType();
      c10::impl::GenericList l(elem);
      l.reserve(items.size());
      for (auto& v : items) l.push_back(std::move(v));
      return c10::IValue(l);
    }
    default: return c10::nullopt;
  }
}

bool Importer::is_meta_op(const std::string& kind) {
  static const std::unordered_set<std::string> ops = {
      "aten::size", "aten::sym_size", "aten::dim", "aten::len", "aten::numel", "prim::dtype", "prim::device",
      "prim::requires_grad", "prim::is_cuda", "prim::is_meta", "prim::is_sparse", "prim::is_sparse_csr",
      "prim::is_quantized", "prim::is_mkldnn", "prim::is_nested", "prim::is_xpu", "prim::is_vulkan",
      "prim::is_mps", "prim::is_ort", "prim::layout", "aten::is_floating_point", "aten::is_complex",
      "aten::__is__", "aten::__isnot__", "prim::isinstance", "prim::shape", "prim::name"};
  return ops.count(kind) != 0;
}

namespace {
/// k when `a` is k x the batch (1: the batch itself), else 0.
int64_t times_batch(const AVal& a) { return a.batch ? 1 : a.batch_times; }

/// A constant integer that does not depend on the batch (an int or a 0-d integer tensor).
bool plain_int(const AVal& a, int64_t& v) {
  if (!a.is_const() || times_batch(a) != 0) return false;
  if (a.iv.isInt()) {
    v = a.iv.toInt();
    return true;
  }
  if (a.iv.isTensor() && a.iv.toTensor().dim() == 0 && at::isIntegralType(a.iv.toTensor().scalar_type(), false)) {
    v = a.iv.toTensor().item<int64_t>();
    return true;
  }
  return false;
}

/// Tags multiples of the batch size through the shape arithmetic of folding windows or heads into
/// dim 0 and back: B * n, n * B, (k B) // n when n divides k.
AVal batch_arithmetic(const std::string& kind, const std::vector<AVal>& in, AVal out) {
  if (!out.is_const() || times_batch(out) != 0) return out;
  int64_t c = 0, k = 0;
  if (kind == "aten::mul") {
    if (times_batch(in[0]) && plain_int(in[1], c)) k = times_batch(in[0]) * c;
    else if (times_batch(in[1]) && plain_int(in[0], c)) k = times_batch(in[1]) * c;
  } else if (kind == "aten::floordiv" || kind == "aten::floor_divide") {
    if (times_batch(in[0]) && plain_int(in[1], c) && c > 0 && times_batch(in[0]) % c == 0) k = times_batch(in[0]) / c;
  }
  if (k == 1) out.batch = true;
  else if (k > 1) out.batch_times = k;
  return out;
}

bool carries_batch(const std::string& kind) {
  static const std::unordered_set<std::string> ops = {"prim::NumToTensor", "aten::Int", "aten::IntImplicit",
                                                      "aten::ScalarImplicit", "aten::detach", "aten::clone",
                                                      "aten::contiguous", "prim::unchecked_cast"};
  return ops.count(kind) != 0;
}

bool holds_meta(const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor().is_meta();
  if (v.isList()) {
    for (auto& e : v.toListRef())
      if (holds_meta(e)) return true;
  }
  if (v.isTuple()) {
    for (auto& e : v.toTupleRef().elements())
      if (holds_meta(e)) return true;
  }
  return false;
}
}  // namespace

bool Importer::is_fill_op(const std::string& kind) {
  static const std::unordered_set<std::string> ops = {"aten::new_zeros", "aten::new_ones", "aten::new_full",
                                                      "aten::zeros_like", "aten::ones_like", "aten::full_like"};
  return ops.count(kind) != 0;
}

std::vector<AVal> Importer::eval_fill(const torch::jit::Node* n, const std::vector<AVal>& in) {
  const std::string kind = n->kind().toQualString();
  const std::string hint = "a constant made from the batch size would fix it; build the tensor from the other dims "
                           "and let broadcasting supply the batch";
  std::vector<AVal> args = in;
  for (size_t i = 0; i < args.size(); ++i) {
    AVal& a = args[i];
    if (a.is_tensor()) {
      if ((batch_major(a.value) || batch_times(a.value) > 1) && kind.size() > 5 && kind.compare(kind.size() - 5, 5, "_like") == 0)
        fail(n, "'" + kind + "' of a tensor whose first dim is the batch", hint);
      const auto& t = a.value->type();
      a = AVal::constant(at::zeros(t.shape, at::TensorOptions().dtype(ir::ops::to_scalar_type(t.dtype))));
    } else if (times_batch(a) || (a.is_seq() && std::any_of(a.elems->begin(), a.elems->end(), times_batch))) {
      fail(n, "'" + kind + "' with the batch size in its shape", hint);
    }
  }
  return eval(n, args, false);
}

std::vector<AVal> Importer::eval(const torch::jit::Node* n, const std::vector<AVal>& in, bool meta) {
  const std::string kind = n->kind().toQualString();
  if ((kind == "aten::__is__" || kind == "aten::__isnot__") && in.size() == 2 && (in[0].is_tensor() || in[1].is_tensor())) {
    // Tensor identity (`q is k` in F.multi_head_attention_forward): the same Alias is the same
    // Python object; meta tensors made for the call would all be distinct.
    const bool same = in[0].is_tensor() && in[1].is_tensor() && in[0].alias == in[1].alias;
    return {AVal::constant(kind == "aten::__is__" ? same : !same)};
  }
  std::vector<c10::IValue> args;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].kind == AVal::Kind::Poison) fail(n, "'" + kind + "' uses " + in[i].name);
    auto v = to_ivalue(in[i], meta);
    if (!v) fail(n, "internal: input " + std::to_string(i) + " of '" + kind + "' is not a constant");
    args.push_back(*v);
  }
  torch::jit::Stack stack(args.begin(), args.end());
  const c10::FunctionSchema* schema = n->maybeSchema();
  if (schema && schema->is_vararg()) stack.emplace_back(static_cast<int64_t>(args.size()));  // as the interpreter's OPN
  c10::optional<torch::jit::Operation> op;
  try {
    op = n->getOperation();
  } catch (const c10::Error&) {
    fail(n, "op '" + kind + "' has no implementation to fold it");
  }
  try {
    (*op)(stack);
  } catch (const c10::Error& e) {
    fail(n, "evaluating '" + kind + "' at import time failed: " + first_line(e.what_without_backtrace()));
  }
  if (stack.size() != n->outputs().size())
    fail(n, "internal: '" + kind + "' left " + std::to_string(stack.size()) + " values, expected " +
                std::to_string(n->outputs().size()));
  std::vector<AVal> out;
  for (auto& v : stack) out.push_back(AVal::constant(v));

  if (meta) {
    // The model runs on CPU tensors that are real, not meta; in inference nothing requires grad.
    if (kind == "prim::device") out[0] = AVal::constant(c10::Device(c10::kCPU));
    if (kind == "prim::is_meta") out[0] = AVal::constant(false);
    if ((kind == "aten::size" || kind == "aten::sym_size") && in[0].is_tensor() && batch_major(in[0].value)) {
      if (in.size() == 2 && out[0].iv.isInt()) {
        int64_t d = in[1].iv.toInt();
        out[0].batch = d == 0 || d == -in[0].value->type().rank();
      } else if (in.size() == 1 && out[0].iv.isList()) {
        std::vector<AVal> elems;
        for (auto& e : out[0].iv.toListRef()) elems.push_back(AVal::constant(e));
        if (!elems.empty()) elems[0].batch = true;
        out[0] = AVal::seq(std::move(elems), c10::ListType::ofInts());
      }
    } else if ((kind == "aten::size" || kind == "aten::sym_size") && in[0].is_tensor() && batch_times(in[0].value) > 1) {
      const int64_t k = batch_times(in[0].value);
      if (in.size() == 2 && out[0].iv.isInt()) {
        int64_t d = in[1].iv.toInt();
        if (d == 0 || d == -in[0].value->type().rank()) out[0].batch_times = k;
      } else if (in.size() == 1 && out[0].iv.isList()) {
        std::vector<AVal> elems;
        for (auto& e : out[0].iv.toListRef()) elems.push_back(AVal::constant(e));
        if (!elems.empty()) elems[0].batch_times = k;
        out[0] = AVal::seq(std::move(elems), c10::ListType::ofInts());
      }
    }
    for (auto& o : out)
      if (o.is_const() && holds_meta(o.iv))
        fail(n, "internal: '" + kind + "' returned a meta tensor at import time");
  }
  if (carries_batch(kind) && !in.empty() && !out.empty()) {
    out[0].batch = in[0].batch;
    out[0].batch_times = in[0].batch_times;
  }
  if (!out.empty() && in.size() == 2) out[0] = batch_arithmetic(kind, in, std::move(out[0]));

  // Ops that mutate a list input (append, insert, pop, ...): write the result back to the sequence
  // so that every alias of it sees the change.
  if (schema) {
    const auto& formals = schema->arguments();
    for (size_t i = 0; i < in.size() && i < formals.size(); ++i) {
      const auto* alias = formals[i].alias_info();
      if (!alias || !alias->isWrite() || !in[i].is_seq() || !args[i].isList()) continue;
      std::vector<AVal> elems;
      for (auto& e : args[i].toListRef()) elems.push_back(AVal::constant(e));
      *in[i].elems = std::move(elems);
    }
  }
  return out;
}

}  // namespace mc::frontend::ts
