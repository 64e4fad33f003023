// Data movement:
//   cat -> Concat; flatten -> Flatten(axis=1) for start_dim 1 to the last dim, else Reshape;
//   reshape -> Reshape (0 copies the input dim, -1 is inferred: the same meaning in both, allowzero=0);
//   permute / transpose -> Transpose; split -> Split (sizes as an input); unsqueeze / squeeze ->
//   Unsqueeze / Squeeze (axes as an input). squeeze drops only dims of size 1 (as PyTorch does).
//   index_select -> Gather(axis = dim) with the positions as an int64 initializer.
//   expand -> Expand: its broadcast is bidirectional, so -1 (keep the dim) is written as 1, and a 0
//   (ref's dim) as Gather(Shape(ref), i): the batch of ref stays dynamic.
#include <algorithm>

#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

void cat(const ir::Node& n, ExportContext& ctx) {
  std::vector<std::string> ins;
  for (size_t i = 0; i < n.inputs().size(); ++i) ins.push_back(ctx.in(n, i));
  int64_t axis = ctx.wrap_dim(n.attrs().i("dim"), ctx.in_rank(n));
  ctx.node("Concat", ins, {ctx.out(n)}, {OnnxAttr::Int("axis", axis)});
}

void flatten(const ir::Node& n, ExportContext& ctx) {
  const int64_t rank = ctx.in_rank(n);
  if (rank == 0) {
    ctx.node("Reshape", {ctx.in(n, 0), ctx.const_i64({1}, "shape")}, {ctx.out(n)});
    return;
  }
  const int64_t s = ctx.wrap_dim(n.attrs().i("start_dim", 0), rank), e = ctx.wrap_dim(n.attrs().i("end_dim", -1), rank);
  if (s >= e) {
    ctx.alias(n, 0, ctx.in(n, 0));
    return;
  }
  if (s == 1 && e == rank - 1) {
    ctx.node("Flatten", {ctx.in(n, 0)}, {ctx.out(n)}, {OnnxAttr::Int("axis", 1)});
    return;
  }
  // Dims before start are copied (0), the merged ones inferred (-1), those after end are static.
  const ir::Shape& in = ctx.in_shape(n);
  std::vector<int64_t> shape;
  for (int64_t i = 0; i < s; ++i) shape.push_back(0);
  shape.push_back(-1);
  for (int64_t i = e + 1; i < rank; ++i) shape.push_back(in[static_cast<size_t>(i)]);
  ctx.node("Reshape", {ctx.in(n, 0), ctx.const_i64(shape, "shape")}, {ctx.out(n)});
}

void reshape(const ir::Node& n, ExportContext& ctx) {
  ctx.node("Reshape", {ctx.in(n, 0), ctx.const_i64(n.attrs().is("shape"), "shape")}, {ctx.out(n)});
}

void transpose_to(const ir::Node& n, ExportContext& ctx, const std::vector<int64_t>& perm) {
  bool trivial = true;
  for (size_t i = 0; i < perm.size(); ++i) trivial = trivial && perm[i] == static_cast<int64_t>(i);
  if (trivial) {
    ctx.alias(n, 0, ctx.in(n, 0));
    return;
  }
  ctx.node("Transpose", {ctx.in(n, 0)}, {ctx.out(n)}, {OnnxAttr::Ints("perm", perm)});
}

void permute(const ir::Node& n, ExportContext& ctx) {
  const int64_t rank = ctx.in_rank(n);
  std::vector<int64_t> perm;
  for (int64_t d : n.attrs().is("dims")) perm.push_back(ctx.wrap_dim(d, rank));
  if (static_cast<int64_t>(perm.size()) != rank) unsupported(n, "permute dims must name every one of the " + std::to_string(rank) + " dims");
  transpose_to(n, ctx, perm);
}

void transpose(const ir::Node& n, ExportContext& ctx) {
  const int64_t rank = ctx.in_rank(n);
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < rank; ++i) perm.push_back(i);
  std::swap(perm[static_cast<size_t>(ctx.wrap_dim(n.attrs().i("dim0"), rank))],
            perm[static_cast<size_t>(ctx.wrap_dim(n.attrs().i("dim1"), rank))]);
  transpose_to(n, ctx, perm);
}

void split(const ir::Node& n, ExportContext& ctx) {
  int64_t axis = ctx.wrap_dim(n.attrs().i("dim"), ctx.in_rank(n));
  std::vector<std::string> outs;
  for (size_t i = 0; i < n.outputs().size(); ++i) outs.push_back(ctx.out(n, i));
  ctx.node("Split", {ctx.in(n, 0), ctx.const_i64(n.attrs().is("sizes"), "split")}, outs, {OnnxAttr::Int("axis", axis)});
}

void unsqueeze(const ir::Node& n, ExportContext& ctx) {
  int64_t axis = ctx.wrap_dim(n.attrs().i("dim"), ctx.in_rank(n) + 1);
  ctx.node("Unsqueeze", {ctx.in(n, 0), ctx.const_i64({axis}, "axes")}, {ctx.out(n)});
}

void squeeze(const ir::Node& n, ExportContext& ctx) {
  const ir::Shape& in = ctx.in_shape(n);
  std::vector<int64_t> axes;
  for (int64_t d : n.attrs().is("dims")) {
    int64_t a = ctx.wrap_dim(d, static_cast<int64_t>(in.size()));
    if (in[static_cast<size_t>(a)] == 1 && std::find(axes.begin(), axes.end(), a) == axes.end()) axes.push_back(a);
  }
  if (axes.empty()) {
    ctx.alias(n, 0, ctx.in(n, 0));
    return;
  }
  std::sort(axes.begin(), axes.end());
  ctx.node("Squeeze", {ctx.in(n, 0), ctx.const_i64(axes, "axes")}, {ctx.out(n)});
}

void index_select(const ir::Node& n, ExportContext& ctx) {
  int64_t axis = ctx.wrap_dim(n.attrs().i("dim"), ctx.in_rank(n));
  ctx.node("Gather", {ctx.in(n, 0), ctx.const_i64(n.attrs().is("index"), "index")}, {ctx.out(n)},
           {OnnxAttr::Int("axis", axis)});
}

void expand(const ir::Node& n, ExportContext& ctx) {
  const std::vector<int64_t>& shape = n.attrs().is("shape");
  std::vector<std::string> parts;
  std::vector<int64_t> run;  // static entries not yet written
  std::string ref_shape;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != 0) {
      run.push_back(shape[i] == -1 ? 1 : shape[i]);
      continue;
    }
    if (n.inputs().size() < 2) unsupported(n, "expand shape entry 0 without a ref input");
    if (!run.empty()) parts.push_back(ctx.const_i64(run, "shape")), run.clear();
    if (ref_shape.empty()) ref_shape = ctx.op1("Shape", {ctx.in(n, 1)});
    parts.push_back(ctx.op1("Gather", {ref_shape, ctx.const_i64({static_cast<int64_t>(i)}, "index")},
                            {OnnxAttr::Int("axis", 0)}));
  }
  if (!run.empty()) parts.push_back(ctx.const_i64(run, "shape"));
  std::string s = parts.size() == 1 ? parts[0] : ctx.op1("Concat", parts, {OnnxAttr::Int("axis", 0)});
  ctx.node("Expand", {ctx.in(n, 0), s}, {ctx.out(n)});
}

}  // namespace

void register_shape(ExportRegistry& r) {
  r.add("cat", cat);
  r.add("flatten", flatten);
  r.add("reshape", reshape);
  r.add("permute", permute);
  r.add("transpose", transpose);
  r.add("split", split);
  r.add("unsqueeze", unsqueeze);
  r.add("squeeze", squeeze);
  r.add("index_select", index_select);
  r.add("expand", expand);
}

}  // namespace mc::exporter::ops
