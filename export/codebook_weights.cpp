#include "export/codebook_weights.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>

#include "export/sparse_initializers.h"

namespace mc::exporter {

namespace {

constexpr int64_t kMaxEntries = 256;  // indices fit uint8
constexpr int64_t kNibbleEntries = 16;  // indices fit 4 bits

struct Codebook {
  at::Tensor values;  // float32 [rows x k], flat
  at::Tensor index;   // uint8, the weight's shape, entry within the row's codebook
  int64_t rows = 1;   // 1: one codebook for the whole tensor
  int64_t k = 0;      // entries per codebook
};

/// A single codebook with the value 0 moved to entry 0 (the entries below it move up by one), so
/// that pruned weights get index 0, the zero a sparse initializer leaves out.
Codebook zero_first(at::Tensor values, at::Tensor inverse, const at::IntArrayRef shape) {
  at::Tensor z = (values == 0).nonzero();
  if (z.numel() > 0 && z[0][0].item<int64_t>() > 0) {
    const int64_t at0 = z[0][0].item<int64_t>();
    values = at::cat({values.slice(0, at0, at0 + 1), values.slice(0, 0, at0), values.slice(0, at0 + 1)});
    inverse = at::where(inverse == at0, at::zeros_like(inverse), at::where(inverse < at0, inverse + 1, inverse));
  }
  const int64_t k = values.numel();
  return Codebook{values, inverse.to(at::kByte).reshape(shape), 1, k};
}

/// The distinct values of each row of `r` [rows x n] as one codebook per row (entries ascending,
/// zero-filled past a row's own count) and each element's entry, or nothing when a row has more
/// than 256. Sort-based: ATen's CPU unique with an inverse builds a hash map of every value, which
/// took seconds per dense weight (resnet50's export spent most of its time there).
std::optional<Codebook> row_codebooks(const at::Tensor& r) {
  auto [sorted, order] = r.sort(1);
  at::Tensor fresh = at::ones_like(sorted, at::kBool);  // first of a run of equal values
  fresh.slice(1, 1).copy_(sorted.slice(1, 1) != sorted.slice(1, 0, -1));
  at::Tensor rank = fresh.to(at::kLong).cumsum(1) - 1;  // entry of each sorted value
  const int64_t k = rank.select(1, -1).max().item<int64_t>() + 1;
  if (k > kMaxEntries) return std::nullopt;
  at::Tensor book = at::zeros({r.size(0), k}, at::kFloat).scatter_(1, rank, sorted);  // equal values land on one entry
  at::Tensor index = at::empty_like(rank).scatter_(1, order, rank);
  return Codebook{book.reshape({-1}), index, r.size(0), k};
}

/// The weight's own values as a codebook (see the header), or nothing when more than 256 per row.
std::optional<Codebook> find_codebook(const at::Tensor& w) {
  at::Tensor x = w.detach().to(at::kCPU).contiguous();
  if (x.numel() == 0 || x.scalar_type() != at::kFloat || !at::isfinite(x).all().item<bool>()) return std::nullopt;
  if (std::optional<Codebook> whole = row_codebooks(x.reshape({1, -1})))
    return zero_first(whole->values, whole->index.reshape({-1}), x.sizes());
  if (x.dim() < 2) return std::nullopt;
  std::optional<Codebook> rows = row_codebooks(x.reshape({x.size(0), -1}));
  if (rows) rows->index = rows->index.to(at::kByte).reshape(x.sizes());
  return rows;
}

/// Bytes of the tensors of the codebook form.
int64_t stored_bytes(const Codebook& cb) {
  const int64_t n = cb.index.numel();
  return 4 * cb.values.numel() + (cb.k <= kNibbleEntries ? (n + 1) / 2 : n) + (cb.rows > 1 ? 8 * cb.rows : 0);
}

/// Rough bytes of the decoding nodes and extra initializer headers: every node carries a name and
/// input/output names about as long as the weight's name (+ op type, attributes, field tags).
int64_t overhead_bytes(const Codebook& cb, const std::string& base) {
  const int64_t nodes = (cb.k <= kNibbleEntries ? 6 : 2) + (cb.rows > 1 ? 1 : 0);
  const int64_t per_name = static_cast<int64_t>(base.size()) + 16;
  return nodes * (4 * per_name + 16) + 3 * (per_name + 16);
}

/// uint8 indices < 16 two per byte, the first half of the elements in the low nibbles and the
/// second half in the high ones.
at::Tensor packed_nibbles(const at::Tensor& index) {
  const int64_t n = index.numel(), half = (n + 1) / 2;
  at::Tensor flat = index.reshape({-1});
  if (n % 2) flat = at::cat({flat, at::zeros({1}, at::kByte)});
  return at::bitwise_or(flat.slice(0, 0, half), at::bitwise_left_shift(flat.slice(0, half), 4)).contiguous();
}

/// The indices as stored: packed_nibbles for <= 16 entries, else one byte each.
at::Tensor stored_index(const Codebook& cb) { return cb.k <= kNibbleEntries ? packed_nibbles(cb.index) : cb.index; }

/// Writes the packed indices and emits the nodes that unpack them as int64 of the index's shape:
/// Cast -> Mod 16 (first half), Div 16 (second half) -> Concat (-> Slice for an odd count) -> Reshape.
std::string unpacked_nibbles(ExportContext& ctx, const at::Tensor& index, const std::string& base, StoredWeight& rec) {
  const int64_t n = index.numel();
  rec.initializers.push_back(ctx.add_tensor(packed_nibbles(index), base + "_indices4"));
  ctx.weight_initializers().insert(rec.initializers.back());
  std::string p = ctx.op1("Cast", {rec.initializers.back()}, {OnnxAttr::Int("to", onnx::TensorProto_DataType_INT64)});
  std::string sixteen = ctx.scalar(16, ir::DType::i64, "sixteen");
  std::string all = ctx.op1("Concat", {ctx.op1("Mod", {p, sixteen}), ctx.op1("Div", {p, sixteen})},
                            {OnnxAttr::Int("axis", 0)});
  if (n % 2)
    all = ctx.op1("Slice", {all, ctx.const_i64({0}, "starts"), ctx.const_i64({n}, "ends"), ctx.const_i64({0}, "axis0")});
  std::vector<int64_t> shape(index.sizes().begin(), index.sizes().end());
  return ctx.op1("Reshape", {all, ctx.const_i64(shape, "shape")});
}

/// Emits the codebook form; records its initializers and nodes in `rec`.
std::string emit(ExportContext& ctx, const Codebook& cb, const std::string& base, StoredWeight& rec) {
  const int first_node = ctx.node_count();
  std::string idx;  // int64 indices of the weight's shape
  if (cb.k <= kNibbleEntries) {
    idx = unpacked_nibbles(ctx, cb.index, base, rec);
  } else {
    rec.initializers.push_back(ctx.add_tensor(cb.index, base + "_indices"));
    ctx.weight_initializers().insert(rec.initializers.back());
    idx = ctx.op1("Cast", {rec.initializers.back()}, {OnnxAttr::Int("to", onnx::TensorProto_DataType_INT64)});
  }
  if (cb.rows > 1) {
    std::vector<int64_t> oshape(static_cast<size_t>(cb.index.dim()), 1);
    oshape[0] = cb.rows;
    at::Tensor offsets = (at::arange(cb.rows, at::kLong) * cb.k).reshape(oshape).contiguous();
    rec.initializers.push_back(ctx.add_tensor(offsets, base + "_row_offsets"));
    idx = ctx.op1("Add", {idx, rec.initializers.back()});
  }
  rec.initializers.push_back(ctx.add_tensor(cb.values, base + "_codebook"));
  std::string w = ctx.op1("Gather", {rec.initializers.back(), idx}, {OnnxAttr::Int("axis", 0)});
  rec.node_outputs = ctx.node_outputs_since(first_node);
  return w;
}

bool reads_weights_only(const ir::Value* v) {
  for (const ir::Node* u : v->users())
    if (u->op() != "conv2d" && u->op() != "linear" && u->op() != "matmul") return false;
  return true;
}

/// Bytes of `t` in the file as sparsify_weights (export/sparse_initializers.h) will write it under `sparse`.
int64_t initializer_bytes(const at::Tensor& t, SparseInitializers sparse) {
  const int64_t dense = dense_field_bytes(t);
  if (sparse == SparseInitializers::never) return dense;
  if (sparse == SparseInitializers::always) return (t == 0).any().item<bool>() ? sparse_field_bytes(t) : dense;
  return std::min(dense, sparse_field_bytes(t));
}

/// Is the codebook form worth writing under `mode`? With sparse initializers the comparison is
/// between the two forms as each would be stored: the float32 weight dense or sparse, the codebook
/// with its indices dense or sparse (each as sparsify_weights will choose).
bool pays(const Codebook& cb, const at::Tensor& w, const std::string& name, CodebookWeights mode, SparseInitializers sparse) {
  if (mode == CodebookWeights::never) return false;
  if (mode == CodebookWeights::always) return true;
  if (sparse == SparseInitializers::never) return stored_bytes(cb) + overhead_bytes(cb, name) < 4 * w.numel();
  const int64_t codebook = initializer_bytes(stored_index(cb), sparse) + dense_field_bytes(cb.values) +
                           (cb.rows > 1 ? 8 * cb.rows : 0) + overhead_bytes(cb, name);
  return codebook < initializer_bytes(w.detach().to(at::kCPU).contiguous(), sparse);
}

}  // namespace

bool writes_codebook(const at::Tensor& w, const std::string& name, CodebookWeights mode, SparseInitializers sparse) {
  if (mode == CodebookWeights::never) return false;
  std::optional<Codebook> cb = find_codebook(w);
  return cb && cb->rows == 1 && pays(*cb, w, name, mode, sparse);
}

std::string weight_input(const ir::Node& n, size_t i, ExportContext& ctx) {
  const ir::Value* v = n.input(i);
  const ir::Node* p = v->producer();
  if (!p || (p->op() != "param" && p->op() != "constant")) return ctx.in(n, i);
  // The float32 initializer, marked as a weight that may be written sparse.
  auto as_float = [&] {
    std::string name = ctx.in(n, i);
    ctx.weight_initializers().insert(name);
    return name;
  };
  if (ctx.codebook_weights() == CodebookWeights::never) return as_float();
  const std::string& store = p->attrs().s("name");
  auto known = ctx.weight_forms().find(store);
  if (known != ctx.weight_forms().end()) return known->second;
  // A weight also read by another op keeps its float32 initializer: a codebook would add bytes.
  if (!reads_weights_only(v)) return as_float();
  const at::Tensor& w = ctx.model().tensor(store);
  std::optional<Codebook> cb = find_codebook(w);
  if (!cb) return as_float();
  if (!pays(*cb, w, store, ctx.codebook_weights(), ctx.sparse_initializers())) return as_float();
  StoredWeight rec{store, {}, {}, true};
  std::string name = emit(ctx, *cb, store, rec);
  ctx.weight_forms()[store] = name;
  ctx.stored_weights().push_back(std::move(rec));
  return name;
}

}  // namespace mc::exporter
