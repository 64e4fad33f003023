// The abstract interpreter of the TorchScript importer: walks a graph node by node, binding every
// TS value to an AVal. Calls (prim::CallMethod / prim::CallFunction) are interpreted recursively
// with the callee's module path as scope; prim::If with a constant condition runs only the taken
// block; prim::Loop with constant trip count and conditions is unrolled; lists and tuples that hold
// IR tensors are tracked as shared sequences (aten::append mutates them in place, as Python does).
#include <algorithm>

#include "common/error.h"
#include "frontend/torchscript_internal.h"

namespace mc::frontend::ts {

namespace {

constexpr int kMaxDepth = 256;
constexpr int64_t kMaxLoopIterations = 100000;

bool is_tensor_list_type(const c10::TypePtr& t) {
  auto lt = t->cast<c10::ListType>();
  if (!lt) return false;
  c10::TypePtr e = lt->getElementType();
  if (auto o = e->cast<c10::OptionalType>()) e = o->getElementType();
  return e->kind() == c10::TypeKind::TensorType;
}

bool plain(const AVal& a) { return a.is_const() && !a.batch && a.batch_times == 0; }

const AVal* find_poison(const AVal& a) {
  if (a.kind == AVal::Kind::Poison) return &a;
  if (a.is_seq())
    for (auto& e : *a.elems)
      if (const AVal* p = find_poison(e)) return p;
  return nullptr;
}

bool is_data_dependent(const std::string& kind) {
  return kind == "aten::Bool" || kind == "aten::Int" || kind == "aten::Float" || kind == "aten::item" ||
         kind == "aten::is_nonzero" || kind == "aten::IntImplicit" || kind == "aten::FloatImplicit" ||
         kind == "aten::ScalarImplicit" || kind == "aten::tolist" || kind == "prim::tolist" ||
         kind == "aten::equal" || kind == "aten::any" || kind == "aten::all";
}

}  // namespace

const AVal& Importer::get(Frame& f, const torch::jit::Value* v) {
  auto it = f.env.find(v);
  if (it == f.env.end()) throw Error("internal: TorchScript value %" + v->debugName() + " has no binding");
  sync(it->second);
  return it->second;
}

std::vector<AVal> Importer::inputs_of(Frame& f, const torch::jit::Node* n) {
  std::vector<AVal> in;
  in.reserve(n->inputs().size());
  for (const torch::jit::Value* v : n->inputs()) in.push_back(get(f, v));
  return in;
}

std::vector<AVal> Importer::call(const torch::jit::Graph& g, std::vector<AVal> args, const std::string& scope) {
  if (++depth_ > kMaxDepth) fail(node_, "calls nest more than " + std::to_string(kMaxDepth) + " deep");
  if (args.size() != g.inputs().size())
    fail(node_, "internal: call with " + std::to_string(args.size()) + " arguments to a graph of " +
                    std::to_string(g.inputs().size()) + " inputs");
  Frame f;
  f.scope = scope;
  for (size_t i = 0; i < args.size(); ++i) bind(f, g.inputs()[i], std::move(args[i]));
  frames_.push_back(&f);
  run_block(f, g.block());
  std::vector<AVal> outs;
  for (const torch::jit::Value* v : g.outputs()) outs.push_back(get(f, v));
  frames_.pop_back();
  --depth_;
  return outs;
}

void Importer::run_block(Frame& f, const torch::jit::Block* b) {
  for (const torch::jit::Node* n : b->nodes()) run_node(f, n);
}

void Importer::run_node(Frame& f, const torch::jit::Node* n) {
  scope_ = f.scope;
  node_ = n;
  const c10::Symbol k = n->kind();
  if (k == c10::prim::Constant) {
    auto v = torch::jit::toIValue(n->output());
    bind(f, n->output(), AVal::constant(v ? *v : c10::IValue()));  // Function constants: unused
    return;
  }
  if (k == c10::prim::GetAttr) return run_get_attr(f, n);
  if (k == c10::prim::SetAttr)
    fail(n, "the model assigns a module attribute in forward (prim::SetAttr)",
         "only models that keep no state across calls in inference mode can be imported");
  if (k == c10::prim::CallMethod || k == c10::prim::CallFunction) return run_call(f, n);
  if (k == c10::prim::If) return run_if(f, n);
  if (k == c10::prim::Loop) return run_loop(f, n);
  if (k == c10::prim::RaiseException) {
    const AVal& m = get(f, n->input(0));
    std::string msg = m.is_const() && m.iv.isString() ? m.iv.toStringRef() : "(no message)";
    fail(n, "the model raises an exception for " + inputs_str() + " in inference mode: " + msg);
  }
  if (k == c10::prim::Uninitialized) {
    bind(f, n->output(), AVal::constant(c10::IValue()));
    return;
  }
  if (k == c10::prim::unchecked_cast) {
    bind(f, n->output(), get(f, n->input(0)));
    return;
  }
  const std::string kind = k.toQualString();
  if (kind == "aten::warn" || kind == "prim::Print") return;
  auto in = inputs_of(f, n);
  if (run_seq_op(f, n, in)) return;
  run_aten(f, n, std::move(in));
}

void Importer::run_get_attr(Frame& f, const torch::jit::Node* n) {
  const AVal& obj = get(f, n->input(0));
  const std::string name = n->s(c10::attr::name);
  if (!obj.is_const() || !obj.iv.isObject()) fail(n, "prim::GetAttr '" + name + "' on a value that is not a module");
  auto o = obj.iv.toObject();
  auto cls = o->type();
  auto slot = cls->findAttributeSlot(name);
  if (!slot) fail(n, "module '" + obj.name + "' has no attribute '" + name + "'");
  c10::IValue v = o->getSlot(*slot);
  const std::string path = obj.name.empty() ? name : obj.name + "." + name;
  AVal a = AVal::constant(v);
  if (v.isTensor() && v.toTensor().defined() && cls->is_module() && cls->is_parameter(*slot)) {
    a = AVal::tensor(param(path, v.toTensor(), obj.name), path);
  } else if (v.isTensor() || v.isObject()) {
    a.name = path;  // buffers keep their module path as store name; submodules as scope
    if (v.isTensor()) module_tensors_.emplace_back(path, v.toTensor());
  }
  bind(f, n->output(), std::move(a));
}

void Importer::run_call(Frame& f, const torch::jit::Node* n) {
  auto in = inputs_of(f, n);
  std::vector<AVal> outs;
  torch::jit::Function* fn = nullptr;
  std::string scope = f.scope;
  if (n->kind() == c10::prim::CallMethod) {
    const std::string name = n->s(c10::attr::name);
    if (!in[0].is_const() || !in[0].iv.isObject()) fail(n, "method call '" + name + "' on a value that is not a module");
    fn = in[0].iv.toObject()->type()->findMethod(name);
    if (!fn) fail(n, "module '" + in[0].name + "' has no method '" + name + "'");
    scope = in[0].name;
  } else {
    auto ft = n->input(0)->type()->cast<c10::FunctionType>();
    if (!ft) fail(n, "prim::CallFunction on a value that is not a function");
    fn = ft->function();
    in.erase(in.begin());
  }
  std::shared_ptr<torch::jit::Graph> g;
  try {
    auto& gf = torch::jit::toGraphFunction(*fn);
    gf.ensure_defined();
    g = gf.graph();
  } catch (const c10::Error&) {
    fail(n, "cannot interpret call to '" + fn->qualname().qualifiedName() + "' (not a TorchScript graph function)");
  }
  outs = call(*g, std::move(in), scope);
  scope_ = f.scope;
  node_ = n;
  if (outs.size() != n->outputs().size()) fail(n, "internal: call returned " + std::to_string(outs.size()) + " values");
  for (size_t i = 0; i < outs.size(); ++i) bind(f, n->output(i), std::move(outs[i]));
}

void Importer::run_if(Frame& f, const torch::jit::Node* n) {
  const AVal& c = get(f, n->input(0));
  if (c.kind == AVal::Kind::Poison && !c.data_dependent) throw InputError(c.name);  // e.g. an unsupported op
  if (!c.is_const() || !(c.iv.isBool() || c.iv.isInt()))
    fail(n, "control flow (prim::If) depends on tensor data",
         "the importer specialises branches on the input shape and inference mode only; move data-dependent "
         "branches out of the model" + (c.kind == AVal::Kind::Poison ? " (the condition comes from: " + c.name + ")" : std::string()));
  bool cond = c.iv.isBool() ? c.iv.toBool() : c.iv.toInt() != 0;
  const torch::jit::Block* b = n->blocks()[cond ? 0 : 1];
  run_block(f, b);
  scope_ = f.scope;
  node_ = n;
  for (size_t i = 0; i < n->outputs().size(); ++i) bind(f, n->output(i), get(f, b->outputs()[i]));
}

void Importer::run_loop(Frame& f, const torch::jit::Node* n) {
  auto in = inputs_of(f, n);
  for (size_t i = 0; i < 2; ++i)
    if (in[i].kind == AVal::Kind::Poison && !in[i].data_dependent) throw InputError(in[i].name);
  if (!in[0].is_const() || !in[0].iv.isInt() || !in[1].is_const() || !in[1].iv.isBool())
    fail(n, "loop (prim::Loop) whose trip count or condition depends on tensor data",
         "the importer unrolls loops whose trip count depends only on shapes and constants");
  const int64_t max_trip = in[0].iv.toInt();
  bool cond = in[1].iv.toBool();
  std::vector<AVal> carried(in.begin() + 2, in.end());
  const torch::jit::Block* body = n->blocks()[0];
  for (int64_t i = 0; cond && i < max_trip; ++i) {
    if (i >= kMaxLoopIterations)
      fail(n, "loop runs more than " + std::to_string(kMaxLoopIterations) + " iterations at import time");
    bind(f, body->inputs()[0], AVal::constant(i));
    for (size_t j = 0; j < carried.size(); ++j) bind(f, body->inputs()[j + 1], carried[j]);
    run_block(f, body);
    scope_ = f.scope;
    node_ = n;
    const AVal& c = get(f, body->outputs()[0]);
    if (c.kind == AVal::Kind::Poison && !c.data_dependent) throw InputError(c.name);
    if (!c.is_const() || !c.iv.isBool()) fail(n, "loop condition depends on tensor data");
    cond = c.iv.toBool();
    for (size_t j = 0; j < carried.size(); ++j) carried[j] = get(f, body->outputs()[j + 1]);
  }
  for (size_t j = 0; j < carried.size(); ++j) bind(f, n->output(j), carried[j]);
}

bool Importer::run_seq_op(Frame& f, const torch::jit::Node* n, const std::vector<AVal>& in) {
  const std::string kind = n->kind().toQualString();
  // The JIT interpreter runs these as instructions, not operators: they have no getOperation().
  if (kind == "prim::ListConstruct" || kind == "prim::TupleConstruct") {
    const c10::TypePtr& type = n->output()->type();
    bool all_plain = std::all_of(in.begin(), in.end(), plain);
    if (!all_plain || (kind == "prim::ListConstruct" && is_tensor_list_type(type))) {
      bind(f, n->output(), AVal::seq(in, type));
    } else if (kind == "prim::TupleConstruct") {
      std::vector<c10::IValue> items;
      for (auto& a : in) items.push_back(a.iv);
      auto tt = type->cast<c10::TupleType>();
      bind(f, n->output(), AVal::constant(tt && tt->schema() ? c10::ivalue::Tuple::createNamed(std::move(items), tt)
                                                             : c10::ivalue::Tuple::create(std::move(items))));
    } else {
      c10::impl::GenericList l(type->expectRef<c10::ListType>().getElementType());
      for (auto& a : in) l.push_back(a.iv);
      bind(f, n->output(), AVal::constant(c10::IValue(l)));
    }
    return true;
  }
  if ((kind == "prim::ListUnpack" || kind == "prim::TupleUnpack" || kind == "prim::TupleIndex") && in[0].is_const()) {
    std::vector<c10::IValue> items;
    if (in[0].iv.isList()) items = in[0].iv.toListRef().vec();
    else if (in[0].iv.isTuple()) items = in[0].iv.toTupleRef().elements().vec();
    else fail(n, "'" + kind + "' on a value that is not a list or tuple");
    if (kind == "prim::TupleIndex") {
      int64_t i = in[1].iv.toInt();
      if (i < 0) i += static_cast<int64_t>(items.size());
      if (i < 0 || i >= static_cast<int64_t>(items.size())) fail(n, "tuple index out of range");
      bind(f, n->output(), AVal::constant(items[static_cast<size_t>(i)]));
      return true;
    }
    if (items.size() != n->outputs().size())
      fail(n, "unpacking " + std::to_string(items.size()) + " values into " + std::to_string(n->outputs().size()));
    for (size_t i = 0; i < items.size(); ++i) bind(f, n->output(i), AVal::constant(items[i]));
    return true;
  }
  if (kind == "prim::isinstance") {
    c10::TypePtr t = in[0].is_tensor() ? c10::TensorType::get()
                     : in[0].is_seq()  ? in[0].type
                     : in[0].is_const() ? in[0].iv.type()
                                        : nullptr;
    if (!t) fail(n, "isinstance on a value the importer cannot type");
    bool r = false;
    for (const c10::TypePtr& cand : n->tys(c10::attr::types)) r = r || t->isSubtypeOf(*cand);
    bind(f, n->output(), AVal::constant(r));
    return true;
  }
  if (in.empty() || !in[0].is_seq()) return false;
  const auto& elems = *in[0].elems;
  auto index = [&](size_t k) {
    if (k >= in.size() || !in[k].is_const() || !in[k].iv.isInt()) fail(n, "'" + kind + "' with an index that is not a constant");
    int64_t i = in[k].iv.toInt(), size = static_cast<int64_t>(elems.size());
    if (i < 0) i += size;
    if (i < 0 || i >= size) fail(n, "index " + std::to_string(in[k].iv.toInt()) + " out of range for a sequence of " + std::to_string(size));
    return static_cast<size_t>(i);
  };
  if (kind == "prim::ListUnpack" || kind == "prim::TupleUnpack") {
    if (elems.size() != n->outputs().size())
      fail(n, "unpacking " + std::to_string(elems.size()) + " values into " + std::to_string(n->outputs().size()));
    for (size_t i = 0; i < elems.size(); ++i) bind(f, n->output(i), elems[i]);
    return true;
  }
  if (kind == "aten::__getitem__" || kind == "prim::TupleIndex") {
    bind(f, n->output(), elems[index(1)]);
    return true;
  }
  if (kind == "aten::len") {
    bind(f, n->output(), AVal::constant(static_cast<int64_t>(elems.size())));
    return true;
  }
  if (kind == "aten::append") {
    in[0].elems->push_back(in[1]);
    bind(f, n->output(), in[0]);
    return true;
  }
  if (kind == "aten::list" || kind == "aten::copy") {
    bind(f, n->output(), AVal::seq(elems, in[0].type));
    return true;
  }
  if (kind == "aten::add" && in.size() == 2 && n->output()->type()->cast<c10::ListType>()) {
    std::vector<AVal> cat = elems;
    if (in[1].is_seq())
      cat.insert(cat.end(), in[1].elems->begin(), in[1].elems->end());
    else if (in[1].is_const() && in[1].iv.isList())
      for (auto& e : in[1].iv.toListRef()) cat.push_back(AVal::constant(e));
    else
      return false;
    bind(f, n->output(), AVal::seq(std::move(cat), in[0].type));
    return true;
  }
  if (kind == "aten::slice" && in.size() == 4 && n->output()->type()->cast<c10::ListType>()) {
    int64_t size = static_cast<int64_t>(elems.size());
    auto bound = [&](size_t k, int64_t dflt) {
      if (in[k].is_none()) return dflt;
      if (!in[k].is_const() || !in[k].iv.isInt()) fail(n, "list slice with a bound that is not a constant");
      int64_t v = in[k].iv.toInt();
      if (v < 0) v += size;
      return std::min(std::max<int64_t>(v, 0), size);
    };
    if (!in[3].is_const() || !in[3].iv.isInt() || in[3].iv.toInt() <= 0) return false;
    int64_t step = in[3].iv.toInt();
    std::vector<AVal> out;
    for (int64_t i = bound(1, 0); i < bound(2, size); i += step) out.push_back(elems[static_cast<size_t>(i)]);
    bind(f, n->output(), AVal::seq(std::move(out), in[0].type));
    return true;
  }
  return false;
}

void Importer::run_aten(Frame& f, const torch::jit::Node* n, std::vector<AVal> in) {
  const std::string kind = n->kind().toQualString();
  bool any_ir = false;
  const AVal* poison = nullptr;
  for (auto& a : in) {
    if (!poison) poison = find_poison(a);
    any_ir = any_ir || a.has_ir();
  }
  if (poison) {  // propagate: the error surfaces where the value is needed (output, branch condition)
    AVal p = *poison;
    if (is_inplace_kind(kind))  // dropping the write would leave every alias of its tensor wrong
      fail(n, "in-place '" + kind + "' writes a value the importer cannot compute", p.name);
    if (is_data_dependent(kind) && !p.data_dependent)
      p = AVal::poison("'" + kind + "' turns tensor data into a Python value at " + where(n) + " (the tensor comes from: " +
                       p.name + ")", true);
    for (const torch::jit::Value* v : n->outputs()) bind(f, v, p);
    return;
  }
  std::vector<AVal> out;
  if (any_ir && is_fill_op(kind)) {
    out = eval_fill(n, in);
  } else if (!any_ir || is_meta_op(kind)) {
    check_constant_inplace(n, in);
    out = eval(n, in, any_ir);
  } else {
    std::string base = kind;
    bool inplace = is_inplace_kind(kind);
    if (inplace) base.pop_back();
    OpHandler h = find_op_handler(base);
    if (!h) {
      std::string what = "unsupported op '" + kind + "'";
      std::string hint =
          "the importer maps CNN and transformer ops (convolution, linear, matmul, normalisation, activations, "
          "pooling, elementwise and shape ops, PyTorch's fused attention); replace the op in the model or open "
          "an issue asking for it";
      if (is_data_dependent(kind)) {
        what = "'" + kind + "' turns tensor data into a Python value";
        hint = "the importer folds only values that depend on shapes; make the model shape-static";
      }
      if (inplace) fail(n, what, hint);  // it would change a tensor that later nodes read
      // Unused results are harmless (as after dead-code elimination); a use reports this message.
      AVal p = AVal::poison(what + " at " + where(n) + ": " + hint, is_data_dependent(kind));
      for (const torch::jit::Value* v : n->outputs()) bind(f, v, p);
      return;
    }
    OpCtx c{*this, n, base, in, std::vector<AVal>(n->outputs().size())};
    h(c);
    out = std::move(c.out);
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].kind == AVal::Kind::Undef)
        out[i] = AVal::poison("output " + std::to_string(i) + " of '" + kind + "' is not supported by the importer (at " +
                              where(n) + ")");
    bind_views(base, in, out);
    if (inplace) out[0] = write_inplace(n, base, in[0], out[0]);
  }
  for (size_t i = 0; i < out.size(); ++i) bind(f, n->output(i), std::move(out[i]));
}

}  // namespace mc::frontend::ts
