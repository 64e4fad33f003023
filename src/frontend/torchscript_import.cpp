// import_torchscript(): loads a TorchScript file and turns its `forward` into an ir::Model.
// This file holds the entry point, the IR-building helpers of the Importer (node emission with
// immediate shape inference, parameters, constants) and the final clean-up (outputs, DCE).
// The interpreter lives in torchscript_interp.cpp, constant evaluation in torchscript_eval.cpp and
// the aten -> IR op table in torchscript_ops.cpp.
#include <cctype>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_internal.h"
#include "ir/op_registry.h"
#include "ir/passes/dead_code_elimination.h"
#include "ir/ops/ops.h"

namespace mc::frontend {

namespace {
}  // namespace

namespace ts {

namespace {

/// forward's argument name as written ("input_ids"; TorchScript may add a ".1" suffix).
std::string arg_name(const torch::jit::Value* v) {
  std::string s = v->debugName();
  auto dot = s.find('.');
  if (dot != std::string::npos && dot > 0) s = s.substr(0, dot);
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  return s.empty() || std::isdigit(static_cast<unsigned char>(s[0])) ? "input" + s : s;
}

/// Flattens a returned value into graph outputs (every tensor of a tuple/list; None skipped).
void collect_outputs(Importer& im, const AVal& a, std::vector<ir::Value*>& outs, const std::string& what) {
  switch (a.kind) {
    case AVal::Kind::Tensor: outs.push_back(a.value); return;
    case AVal::Kind::Seq:
      for (auto& e : *a.elems) collect_outputs(im, e, outs, what);
      return;
    case AVal::Kind::Const:
      if (a.iv.isNone()) return;
      if (a.iv.isTensor()) {
        outs.push_back(im.materialize(a, nullptr));
        return;
      }
      if (a.iv.isTuple() || a.iv.isList()) {
        auto elems = a.iv.isTuple() ? a.iv.toTupleRef().elements().vec() : a.iv.toListRef().vec();
        for (auto& e : elems) collect_outputs(im, AVal::constant(e), outs, what);
        return;
      }
      throw InputError(what + ": forward returns a " + a.iv.tagKind() + ", not tensors");
    case AVal::Kind::Poison: throw InputError(a.name);
    default: throw InputError(what + ": forward returns a value the importer cannot represent");
  }
}

}  // namespace

Importer::Importer(ir::Model& model, std::vector<ir::TensorType> inputs) : model_(model), inputs_(std::move(inputs)) {}

std::string Importer::inputs_str() const {
  if (inputs_.size() == 1 && inputs_[0].dtype == ir::DType::f32) return "input shape " + ir::shape_str(inputs_[0].shape);
  std::string s = inputs_.size() == 1 ? "input " : "inputs ";
  for (size_t i = 0; i < inputs_.size(); ++i) s += (i ? ", " : "") + ir::type_str(inputs_[i]);
  return s;
}

void Importer::set_batch_major(const ir::Value* v, bool on) {
  if (on)
    batch_major_.insert(v);
  else
    batch_major_.erase(v);
  batch_times_.erase(v);
}

void Importer::set_batch_times(const ir::Value* v, int64_t k) {
  set_batch_major(v, k == 1);
  if (k > 1) batch_times_[v] = k;
}

ir::Node* Importer::emit_node(const std::string& op, const std::vector<ir::Value*>& ins, ir::Attrs attrs, size_t nout) {
  ir::Node* n = model_.graph.add_node(op, ins, std::move(attrs), scope_, nout);
  try {
    ir::check_schema(*n);
    const ir::OpDef& def = ir::OpRegistry::instance().get(*n);
    std::vector<ir::TensorType> in;
    for (ir::Value* v : ins) in.push_back(v->type());
    if (def.shape) {
      auto out = def.shape(*n, in);
      if (out.size() != n->outputs().size()) throw Error("shape function gave the wrong number of outputs");
      for (size_t i = 0; i < out.size(); ++i) n->output(i)->set_type(out[i]);
    }
  } catch (const Error& e) {
    std::string hint = "check that the model accepts " + inputs_str();
    for (ir::Value* v : ins)  // the usual cause of a dtype error: an input declared with the wrong dtype
      if (v->is_graph_input())
        hint += "; graph input '" + v->name() + "' is " + ir::type_str(v->type()) + " (set its dtype with --input-dtype or the recipe's input dtype)";
    fail(node_, "cannot build IR op '" + op + "': " + first_line(e.what()), hint);
  }
  bool batch = false;
  for (ir::Value* v : ins) batch = batch || batch_major(v);
  for (ir::Value* v : n->outputs())
    if (batch && v->type().rank() > 0) batch_major_.insert(v);
  // Dim 0 = k x the batch: kept by outputs whose dim 0 is that input's (handlers that move dim 0
  // clear it, as they clear batch_major).
  for (ir::Value* in : ins) {
    const int64_t k = batch ? 0 : batch_times(in);
    if (k == 0) continue;
    for (ir::Value* v : n->outputs())
      if (v->type().rank() > 0 && v->shape()[0] == in->shape()[0]) batch_times_[v] = k;
    break;
  }
  return n;
}

ir::Value* Importer::param(const std::string& name, const at::Tensor& t, const std::string& owner) {
  auto it = params_.find(name);
  if (it != params_.end()) return it->second;
  ir::Attrs a;
  a.set("name", name);
  ir::Node* n = model_.graph.add_node("param", {}, a, owner);
  at::Tensor d = t.detach();
  try {
    n->output()->set_type(ir::ops::type_of(d));
  } catch (const Error& e) {
    fail(node_, "parameter '" + name + "': " + e.what());
  }
  model_.tensors[name] = d;
  params_[name] = n->output();
  return n->output();
}

ir::Value* Importer::materialize(const AVal& a, const ir::Value* like) {
  if (!a.is_const() || !a.iv.isTensor()) throw Error("internal: materialize of a non-tensor constant");
  at::Tensor orig = a.iv.toTensor().detach(), t = orig;
  // A 0-d constant next to a float IR tensor takes its dtype (traced shape arithmetic is int64).
  bool cast = like && t.dim() == 0 && at::isFloatingType(ir::ops::to_scalar_type(like->type().dtype)) &&
              t.scalar_type() != ir::ops::to_scalar_type(like->type().dtype);
  if (cast) t = t.to(ir::ops::to_scalar_type(like->type().dtype));
  if (!cast && !a.name.empty()) {
    auto it = buffers_.find(a.name);
    if (it != buffers_.end()) return it->second;
  }
  const at::Tensor& held = a.iv.toTensor();  // the same tensor object (detach() makes a new one every call)
  if (!cast && a.name.empty())
    for (auto& f : folded_)
      if (f.tensor.unsafeGetTensorImpl() == held.unsafeGetTensorImpl() && f.version == held._version()) return f.value;
  std::string hint = !a.name.empty() ? a.name : (scope_.empty() ? std::string("const") : scope_ + ".const");
  ir::Attrs attrs;
  attrs.set("name", model_.add_tensor(hint, t.clone()));
  ir::Node* n = model_.graph.add_node("constant", {}, attrs, scope_);
  try {
    n->output()->set_type(ir::ops::type_of(t));
  } catch (const Error& e) {
    fail(node_, std::string("constant tensor: ") + e.what());
  }
  if (!cast && !a.name.empty()) buffers_[a.name] = n->output();
  if (!cast && a.name.empty()) folded_.push_back({orig, orig._version(), n->output()});
  return n->output();
}

ir::Value* Importer::scalar(double v, const ir::Value* like) {
  at::ScalarType st = like ? ir::ops::to_scalar_type(like->type().dtype) : at::kFloat;
  if (!at::isFloatingType(st)) st = at::kFloat;
  at::Tensor t = at::scalar_tensor(v, at::TensorOptions().dtype(st));
  ir::Attrs attrs;
  attrs.set("name", model_.add_tensor(scope_.empty() ? std::string("scalar") : scope_ + ".scalar", t));
  ir::Node* n = model_.graph.add_node("constant", {}, attrs, scope_);
  n->output()->set_type(ir::ops::type_of(t));
  return n->output();
}

std::string Importer::where(const torch::jit::Node* n) const {
  std::string s = scope_.empty() ? "the top-level module" : "scope '" + scope_ + "'";
  if (!n) return s;
  torch::jit::SourceRange r = n->sourceRange();
  if (auto orig = r.findSourceRangeThatGenerated()) r = *orig;
  if (auto flc = r.file_line_col()) {
    s += " (" + std::get<0>(*flc) + ":" + std::to_string(std::get<1>(*flc));
    if (r.source() && r.size() > 0 && r.size() < 120) {
      std::string text = r.text().str();
      if (text.find('\n') == std::string::npos && !text.empty()) s += ": " + text;
    }
    s += ")";
  }
  return s;
}

void Importer::fail(const torch::jit::Node* n, const std::string& what, const std::string& hint) const {
  throw InputError(what + " at " + where(n) + (hint.empty() ? std::string() : ": " + hint));
}

void Importer::run(torch::jit::Module& module) {
  ir::register_core_ops();
  std::shared_ptr<torch::jit::Graph> forward = module.get_method("forward").graph();
  const torch::jit::Graph& g = *forward;
  const size_t n = g.inputs().size() - 1;  // input 0 is the module itself
  std::string names;
  for (size_t i = 1; i <= n; ++i) names += (i > 1 ? ", " : "") + arg_name(g.inputs()[i]);
  // Inputs after the declared ones must be optional with the default None (nn.TransformerEncoder's
  // masks): they are imported as None, the value the model sees when called without them.
  const auto& schema = module.get_method("forward").function().getSchema().arguments();
  auto defaults_to_none = [&](size_t i) {
    return i < schema.size() && schema[i].default_value() && schema[i].default_value()->isNone();
  };
  bool declared_ok = inputs_.size() <= n;
  for (size_t i = inputs_.size() + 1; declared_ok && i <= n; ++i) declared_ok = defaults_to_none(i);
  if (!declared_ok)
    throw InputError("forward takes " + std::to_string(n) + " input" + (n == 1 ? "" : "s") + " (" + names + ") but " +
                     std::to_string(inputs_.size()) + (inputs_.size() == 1 ? " was" : " were") +
                     " declared: give one input shape (and dtype) per input, in this order (inputs after them must "
                     "be optional and default to None)");
  std::vector<AVal> args{AVal::constant(module._ivalue())};
  for (size_t i = 1; i <= n; ++i) {
    if (i > inputs_.size()) {
      args.push_back(AVal::constant(c10::IValue()));
      continue;
    }
    if (g.inputs()[i]->type()->kind() != c10::TypeKind::TensorType)
      throw InputError("forward's input '" + arg_name(g.inputs()[i]) + "' is a " + g.inputs()[i]->type()->repr_str() +
                       "; the importer supports tensor inputs only");
    // One input keeps the name "input"; several are named after forward's arguments.
    std::string name = inputs_.size() == 1 ? std::string("input") : model_.graph.fresh_name(arg_name(g.inputs()[i]));
    ir::Value* x = model_.graph.add_input(name, inputs_[i - 1]);
    batch_major_.insert(x);
    args.push_back(AVal::tensor(x));
  }
  auto results = call(g, args, "");
  std::vector<ir::Value*> outs;
  for (auto& r : results) collect_outputs(*this, r, outs, "model");
  if (outs.empty()) throw InputError("forward returns no tensor");
  model_.graph.set_outputs(outs);
  ir::passes::dead_code_elimination(model_);  // also drops tensors no node refers to
  model_.infer_shapes();
  model_.verify();
}

}  // namespace ts

ir::Model import_torchscript(const std::string& path, const ImportOptions& opts) {
  std::vector<ir::TensorType> inputs = opts.inputs;
  if (inputs.empty()) {
    if (opts.input_shape.empty())
      throw InputError("importing '" + path + "': the input shape is empty (give e.g. 1,3,224,224)");
    inputs.emplace_back(ir::DType::f32, opts.input_shape);
  }
  for (const ir::TensorType& t : inputs) {
    if (t.shape.empty()) throw InputError("importing '" + path + "': an input shape is empty (give e.g. 1,16)");
    for (int64_t d : t.shape)
      if (d <= 0) throw InputError("importing '" + path + "': input shape " + ir::shape_str(t.shape) + " has a non-positive dim");
  }
  if (!std::filesystem::exists(path)) throw InputError("TorchScript file '" + path + "' does not exist");
  if (std::filesystem::is_directory(path)) throw InputError("TorchScript file '" + path + "' is a directory");
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, c10::Device(c10::kCPU));
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    std::string hint = "it is truncated, corrupt or not a TorchScript archive";
    if (msg.find("constants.pkl") != std::string::npos || msg.find("PytorchStreamReader") == std::string::npos)
      hint = "it is not a TorchScript module (a torch.save'd state_dict or tensor cannot be imported: "
             "save a torch.jit.trace or torch.jit.script module with torch.jit.save)";
    throw InputError("cannot load TorchScript file '" + path + "': " + hint + " [" + first_line(msg) + "]");
  } catch (const std::exception& e) {
    throw InputError("cannot load TorchScript file '" + path + "': " + first_line(e.what()));
  }
  if (!module.find_method("forward")) throw InputError("TorchScript module '" + path + "' has no forward method");
  module.eval();

  ir::Model model;
  model.name = std::filesystem::path(path).stem().string();
  ts::Importer im(model, inputs);
  // Inference, as in eval mode: torch.is_grad_enabled() is False for the model's code (it decides
  // PyTorch's fused transformer fast paths).
  at::NoGradGuard no_grad;
  try {
    im.run(module);
  } catch (const InputError& e) {
    throw InputError("importing '" + path + "': " + e.what());
  } catch (const c10::Error& e) {
    throw InputError("importing '" + path + "': " + first_line(e.what_without_backtrace()));
  } catch (const Error& e) {
    throw Error("importing '" + path + "': " + e.what());
  }
  return model;
}

}  // namespace mc::frontend
