// Data-movement ops of the TorchScript importer: cat, flatten, reshape/view, permute, transpose,
// split/chunk, slices (a step > 1 is an index_select), index / index_select with constant
// indices, roll (split + cat), narrow, select, (un)squeeze, expand, pad. See torchscript_ops.cpp
// for how handlers read their inputs.
#include <algorithm>
#include <map>

#include "common/error.h"
#include "frontend/torchscript_op_util.h"
#include "ir/ops/ops.h"

namespace mc::frontend::ts {

namespace {

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

}  // namespace

const std::map<std::string, OpHandler>& shape_op_handlers() {
  static const std::map<std::string, OpHandler> t = {
{"aten::cat", cat}, {"aten::concat", cat}, {"aten::flatten", flatten}, {"aten::view", reshape},
      {"aten::reshape", reshape}, {"aten::permute", permute}, {"aten::transpose", transpose},
      {"aten::t", transpose}, {"aten::chunk", split}, {"aten::unsafe_chunk", split}, {"aten::split", split},
      {"aten::unsafe_split", split}, {"aten::split_with_sizes", split}, {"aten::unsafe_split_with_sizes", split},
      {"aten::slice", slice_op}, {"aten::index", index}, {"aten::index_select", index_select_op}, {"aten::roll", roll},
      {"aten::select", select}, {"aten::narrow", narrow}, {"aten::squeeze", squeeze},
      {"aten::unsqueeze", unsqueeze}, {"aten::expand", expand}, {"aten::expand_as", expand}, {"aten::constant_pad_nd", pad}, {"aten::pad", pad},
      {"aten::reflection_pad2d", pad}, {"aten::replication_pad2d", pad},
  };
  return t;
}

}  // namespace mc::frontend::ts
