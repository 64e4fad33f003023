// Internals of the TorchScript importer, shared by torchscript_*.cpp only (this header pulls in
// torch/script.h: never include it from a public header).
//
// The importer is an abstract interpreter over the TorchScript graph of `forward`. Every TS value
// is bound to an AVal: a compile-time constant (IValue), an IR tensor value, a sequence (list or
// tuple holding IR tensors or batch-tagged ints), or a poisoned value that must not be used.
// Method and function calls are interpreted recursively (the same as torch::jit::Inline, but the
// module path of every call is known exactly, so IR nodes get scopes like `layer1.0.conv1`).
#pragma once
#include <torch/script.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/model.h"

namespace mc::frontend::ts {

// ---- aliasing (torchscript_alias.cpp) ----
// A TorchScript tensor is a view of some memory, as in PyTorch: clone and other copying ops make
// new memory, views (view, transpose, slice, ...) share it. The importer models memory as a
// Storage whose `base` is the IR value of its current contents, and a tensor as an Alias: the
// storage and the IR ops (steps) that read the tensor out of it. An in-place op on any alias
// writes its result back through the inverse steps into a new base and every alias of that
// storage is re-read from it.

/// The memory of a tensor. `base` is replaced by every in-place write.
struct Storage {
  ir::Value* base = nullptr;
  uint64_t version = 0;
  std::string param;      // a parameter's name: writing to it would change the model, so it is refused
  std::string ambiguous;  // where a dropout read it: PyTorch and TorchScript differ on writes (refused)
};

/// One IR op of a view: reshape, flatten, transpose, permute, squeeze, unsqueeze, or output
/// `index` of split.
struct ViewStep {
  std::string op;
  ir::Attrs attrs;
  size_t nout = 1, index = 0;
  bool batch_major = false;  // of the step's output (handlers override what emit_node derives)
};

/// A tensor as PyTorch sees it: a view (no steps: the storage itself) of a storage. Every copy of
/// an AVal shares its Alias, so the tensor's identity survives binding, lists and calls.
struct Alias {
  std::shared_ptr<Storage> storage;
  std::vector<ViewStep> steps;
  std::vector<int64_t> strides;   // at the import shape: PyTorch's view-or-copy choices follow them
  std::vector<ir::Value*> chain;  // storage base, then each step's output, as of `version`
  uint64_t version = 0;
};

struct AVal {
  enum class Kind { Undef, Const, Tensor, Seq, Poison };
  Kind kind = Kind::Undef;
  c10::IValue iv;                            // Const
  ir::Value* value = nullptr;                // Tensor: its current IR value (kept in sync with alias)
  std::shared_ptr<Alias> alias;              // Tensor: the memory it reads
  std::shared_ptr<std::vector<AVal>> elems;  // Seq (shared: aten::append mutates it for every alias)
  c10::TypePtr type;                         // Seq: its TorchScript type (ListType or TupleType)
  bool batch = false;                        // Const int / 0-d tensor that equals the batch size
  int64_t batch_times = 0;  // Const int / 0-d tensor that equals k x the batch size (k > 1; k = 1 is `batch`)
  std::string name;  // Const module: module path; Const tensor: buffer path; Poison: the error message
  bool data_dependent = false;  // Poison: a Python value computed from tensor data (aten::Bool, item, ...)

  static AVal constant(c10::IValue v, bool batch = false) {
    AVal a;
    a.kind = Kind::Const;
    a.iv = std::move(v);
    a.batch = batch;
    return a;
  }
  /// A tensor in new memory of its own (the output of a non-view op, a clone, a parameter).
  static AVal tensor(ir::Value* v, std::string param = "");
  static AVal seq(std::vector<AVal> e, c10::TypePtr t) {
    AVal a;
    a.kind = Kind::Seq;
    a.elems = std::make_shared<std::vector<AVal>>(std::move(e));
    a.type = std::move(t);
    return a;
  }
  static AVal poison(std::string why, bool data_dependent = false) {
    AVal a;
    a.kind = Kind::Poison;
    a.name = std::move(why);
    a.data_dependent = data_dependent;
    return a;
  }
  bool is_const() const { return kind == Kind::Const; }
  bool is_tensor() const { return kind == Kind::Tensor; }
  bool is_seq() const { return kind == Kind::Seq; }
  bool is_none() const { return kind == Kind::Const && iv.isNone(); }
  /// An IR tensor, or a sequence holding one (at any depth).
  bool has_ir() const;
};

/// Converts to an IValue. IR tensors become meta tensors of their static shape when `meta`
/// (for ops that read only metadata, such as aten::size); otherwise they make it fail (nullopt).
c10::optional<c10::IValue> to_ivalue(const AVal& a, bool meta);

class Importer;

/// One aten node being mapped to IR ops (see torchscript_ops.cpp).
struct OpCtx {
  Importer& im;
  const torch::jit::Node* node;
  std::string kind;  // e.g. "aten::relu" (in-place variants are mapped to their base name)
  const std::vector<AVal>& in;
  std::vector<AVal> out;

  size_t size() const { return in.size(); }
  bool none(size_t k) const { return k >= in.size() || in[k].is_none(); }
  bool is_ir(size_t k) const { return k < in.size() && in[k].is_tensor(); }
  /// The IR value of input k; constant tensors and scalars become `constant` nodes.
  ir::Value* t(size_t k, const ir::Value* like = nullptr);
  int64_t i(size_t k) const;
  double f(size_t k) const;
  bool b(size_t k) const;
  std::string s(size_t k) const;
  /// An int list (or tuple, or single int broadcast to nothing); `tags` gets the batch tags,
  /// `times` the batch multiples (AVal::batch_times).
  std::vector<int64_t> ints(size_t k, std::vector<bool>* tags = nullptr, std::vector<int64_t>* times = nullptr) const;
  /// Elements of a list/tuple input.
  std::vector<AVal> list(size_t k) const;

  ir::Node* emit_node(const std::string& op, const std::vector<ir::Value*>& ins, ir::Attrs a = {}, size_t nout = 1);
  ir::Value* emit(const std::string& op, const std::vector<ir::Value*>& ins, ir::Attrs a = {}) {
    return emit_node(op, ins, std::move(a))->output();
  }
  /// emit() with the node's scope extended by `sub` (".norm1": the submodule a fused op stands for).
  ir::Node* emit_node_at(const std::string& sub, const std::string& op, const std::vector<ir::Value*>& ins,
                         ir::Attrs a = {}, size_t nout = 1);
  ir::Value* emit_at(const std::string& sub, const std::string& op, const std::vector<ir::Value*>& ins, ir::Attrs a = {}) {
    return emit_node_at(sub, op, ins, std::move(a))->output();
  }
  ir::Value* scalar(double v, const ir::Value* like);
  void set(ir::Value* v, size_t k = 0) { out.at(k) = AVal::tensor(v); }
  bool batch_major(const ir::Value* v) const;
  [[noreturn]] void fail(const std::string& why) const;
};

/// relu_, add_, ... (not __iadd__ and the like).
bool is_inplace_kind(const std::string& kind);

using OpHandler = void (*)(OpCtx&);
/// Handler for an aten op kind (base name, without the in-place underscore); nullptr if none.
OpHandler find_op_handler(const std::string& kind);
/// The handlers of PyTorch's fused transformer ops (torchscript_attention.cpp), by aten kind.
const std::map<std::string, OpHandler>& attention_op_handlers();
/// The data-movement ops (torchscript_ops_shape.cpp).
const std::map<std::string, OpHandler>& shape_op_handlers();

class Importer {
 public:
  /// `inputs`: dtype and shape of each tensor argument of forward, in order.
  Importer(ir::Model& model, std::vector<ir::TensorType> inputs);
  /// Interprets `forward` of `module` and fills the model (graph, tensors, outputs).
  void run(torch::jit::Module& module);

  // ---- used by the op handlers ----
  ir::Node* emit_node(const std::string& op, const std::vector<ir::Value*>& ins, ir::Attrs attrs, size_t nout);
  ir::Value* materialize(const AVal& a, const ir::Value* like);
  ir::Value* scalar(double v, const ir::Value* like);
  /// The model input: its dim 0 is the batch (the ref of an expand to a dynamic batch).
  ir::Value* batch_source() const { return model_.graph.inputs().at(0); }
  bool batch_major(const ir::Value* v) const { return batch_major_.count(v) != 0; }
  /// Sets or clears "dim 0 is the batch"; either way dim 0 is no longer k x the batch.
  void set_batch_major(const ir::Value* v, bool on);
  /// k > 1 when dim 0 of v is k x the batch (windows or heads folded into it, as Swin's window
  /// partition does); 0 otherwise.
  int64_t batch_times(const ir::Value* v) const {
    auto it = batch_times_.find(v);
    return it == batch_times_.end() ? 0 : it->second;
  }
  /// Dim 0 of v is k x the batch (k = 1: batch major).
  void set_batch_times(const ir::Value* v, int64_t k);
  int64_t import_batch() const { return inputs_.empty() || inputs_[0].shape.empty() ? 1 : inputs_[0].shape[0]; }
  /// "scope 'layer1.0.conv1' (resnet.py:92: out = self.conv1(x))" for messages.
  std::string where(const torch::jit::Node* n) const;
  /// Throws InputError "<what> at <where(n)>[: <hint>]".
  [[noreturn]] void fail(const torch::jit::Node* n, const std::string& what, const std::string& hint = "") const;
  const std::string& scope() const { return scope_; }

 private:
  struct Frame {
    std::unordered_map<const torch::jit::Value*, AVal> env;
    std::string scope;
  };

  std::vector<AVal> call(const torch::jit::Graph& g, std::vector<AVal> args, const std::string& scope);
  void run_block(Frame& f, const torch::jit::Block* b);
  void run_node(Frame& f, const torch::jit::Node* n);
  /// The binding of v, re-read from its storage if an in-place op wrote there since (sync).
  const AVal& get(Frame& f, const torch::jit::Value* v);
  void bind(Frame& f, const torch::jit::Value* v, AVal a) { f.env[v] = std::move(a); }
  std::vector<AVal> inputs_of(Frame& f, const torch::jit::Node* n);

  // control flow and structure (torchscript_interp.cpp)
  void run_if(Frame& f, const torch::jit::Node* n);
  void run_loop(Frame& f, const torch::jit::Node* n);
  void run_call(Frame& f, const torch::jit::Node* n);
  void run_get_attr(Frame& f, const torch::jit::Node* n);
  bool run_seq_op(Frame& f, const torch::jit::Node* n, const std::vector<AVal>& in);
  void run_aten(Frame& f, const torch::jit::Node* n, std::vector<AVal> in);

  // aliasing and in-place ops (torchscript_alias.cpp)
  /// Brings a tensor (or every tensor of a sequence) up to date with its storage.
  void sync(AVal& a);
  ir::Value* replay(const ViewStep& s, ir::Value* x);
  ir::Value* invert(const ViewStep& s, ir::Value* in, ir::Value* out, ir::Value* now);
  /// `out`, computed from `src` by single-input ops, as a view of src's storage (or new memory
  /// where PyTorch copies).
  AVal view_of(const AVal& src, ir::Value* out);
  /// After view op `kind` (base name) on inputs `in`: its tensor outputs become views of in[0].
  void bind_views(const std::string& kind, const std::vector<AVal>& in, std::vector<AVal>& out);
  /// Writes `result` of in-place op n (base name `kind`) into the memory of `self`; returns the
  /// op's output (self, with its new value). Refuses writes to parameters and constants.
  AVal write_inplace(const torch::jit::Node* n, const std::string& kind, const AVal& self, const AVal& result);
  /// Refuses an in-place op evaluated on constants that changes a module buffer.
  void check_constant_inplace(const torch::jit::Node* n, const std::vector<AVal>& in);
  /// The module path of the buffer that `t` is a view of, or "".
  std::string buffer_of(const at::Tensor& t) const;

  // constant evaluation (torchscript_eval.cpp)
  std::vector<AVal> eval(const torch::jit::Node* n, const std::vector<AVal>& in, bool meta);
  static bool is_meta_op(const std::string& kind);
  /// new_zeros, zeros_like, ...: a new constant tensor that takes only dtype (and for *_like the
  /// shape) from its tensor input.
  static bool is_fill_op(const std::string& kind);
  /// Evaluates a fill op whose tensor input is an IR tensor: the result is a constant unless its
  /// shape is the batch size (then the op is refused: the constant would fix the batch).
  std::vector<AVal> eval_fill(const torch::jit::Node* n, const std::vector<AVal>& in);

  ir::Value* param(const std::string& name, const at::Tensor& t, const std::string& owner);

  ir::Model& model_;
  std::vector<ir::TensorType> inputs_;
  /// "input shape [1,3,224,224]" or "inputs i64[1,16], i64[1,16]" for messages.
  std::string inputs_str() const;
  std::vector<Frame*> frames_;
  std::string scope_;                      // scope of the node being interpreted
  const torch::jit::Node* node_ = nullptr;  // node being interpreted
  std::unordered_set<const ir::Value*> batch_major_;
  std::unordered_map<const ir::Value*, int64_t> batch_times_;
  std::unordered_map<std::string, ir::Value*> params_;
  std::unordered_map<std::string, ir::Value*> buffers_;  // constant nodes by buffer path
  struct Folded {
    at::Tensor tensor;
    int64_t version;  // an in-place op on constants at import time bumps it: the node is then stale
    ir::Value* value;
  };
  std::vector<Folded> folded_;  // constant nodes of folded tensors
  std::vector<std::pair<std::string, at::Tensor>> module_tensors_;  // buffers read by prim::GetAttr
  int depth_ = 0;
  size_t steps_ = 0;
  friend struct OpCtx;
};

}  // namespace mc::frontend::ts
