// Channel rules of data-movement ops.
//   cat along the channel dim concatenates the inputs' atoms (offsets); along another dim it
//     unites them position by position.
//   split along the channel dim hands each output its slice; `sizes` follow the kept channels.
//   reshape/flatten: the channel block [a, b) of the input (pre * P * S elements: before, channels,
//     after) must reappear as output dims [a', b') with prod(out[:a']) = pre and
//     prod(out[a':b']) = P * S' where S' divides S. Each channel then covers S' consecutive
//     positions (flatten -> linear: one block of H*W features per channel). When the channels
//     are split over several output dims (channel shuffle: [N, C] -> [N, g, C/g]), atoms are
//     united across the leading dims so that only the last one shrinks and the reshape stays
//     expressible: shuffle's two halves lose the same positions.
//     A split that feeds attention (a head split) shrinks its first dim instead:
//     channel_rules_attention.cpp.
//   transpose/permute reorder the atoms with the dims (the shuffle's interleaving).
//   unsqueeze/squeeze shift the channel dims; so does expand (new leading dims), whose channel dims
//     must keep the input's size (-1: the class token of a ViT), else they are fixed.
//   mean over a channel dim sums channels: those atoms are fixed and the output is untracked.
//   index_select along another dim keeps the channel map; along a channel dim it picks channels
//     (a strided slice, a gather): those atoms are fixed.
#include <algorithm>
#include <map>
#include <numeric>

#include "pruning/channel_rules.h"

namespace mc::prune {

namespace {

int64_t wrap(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

int64_t prod(const ir::Shape& s, size_t a, size_t b) {
  int64_t p = 1;
  for (size_t i = a; i < b && i < s.size(); ++i) p *= s[i];
  return p;
}

void cat(const ir::Node& n, DependencyGraph& g) {
  const int64_t rank = static_cast<int64_t>(n.output()->shape().size());
  const int64_t d = wrap(n.attrs().i("dim"), rank);
  bool along = true, across = true;
  const ChannelMap& first = g.map(n.input(0));
  for (const ir::Value* v : n.inputs()) {
    const ChannelMap& m = g.map(v);
    along = along && m.dims == std::vector<int64_t>{d};
    across = across && !m.empty() && m.dims == first.dims && m.atoms.size() == first.atoms.size() &&
             std::find(m.dims.begin(), m.dims.end(), d) == m.dims.end();
  }
  if (along) {
    ChannelMap out;
    out.dims = {d};
    for (const ir::Value* v : n.inputs()) {
      const auto& a = g.map(v).atoms;
      out.atoms.insert(out.atoms.end(), a.begin(), a.end());
    }
    g.set_map(n.output(), out);
  } else if (across) {
    for (const ir::Value* v : n.inputs())
      for (size_t p = 0; p < first.atoms.size(); ++p) g.unite(g.map(v).atoms[p], first.atoms[p]);
    g.set_map(n.output(), first);
  } else {
    for (const ir::Value* v : n.inputs()) g.fix(g.map(v), "cat of mixed channel layouts");
  }
}

void split(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  const int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  const int64_t d = wrap(n.attrs().i("dim"), rank);
  if (in.dims == std::vector<int64_t>{d}) {
    int64_t off = 0;
    for (const ir::Value* o : n.outputs()) {
      int64_t len = o->shape()[d];
      ChannelMap m;
      m.dims = {d};
      m.atoms.assign(in.atoms.begin() + off, in.atoms.begin() + off + len);
      off += len;
      g.set_map(o, m);
    }
  } else if (std::find(in.dims.begin(), in.dims.end(), d) == in.dims.end()) {
    for (const ir::Value* o : n.outputs()) g.set_map(o, in);
  } else {
    g.fix(in, "split across a multi-dim channel block");
  }
}

void split_update(ir::Node& n, const DependencyGraph& g, const RemovedAtoms& removed) {
  const ChannelMap& in = g.map(n.input(0));
  const int64_t d = wrap(n.attrs().i("dim"), static_cast<int64_t>(n.input(0)->shape().size()));
  if (in.dims != std::vector<int64_t>{d}) return;
  std::vector<int64_t> sizes;
  for (const ir::Value* o : n.outputs()) sizes.push_back(kept_positions(g.map(o), removed));
  n.attrs().set("sizes", sizes);
}

// Relabels `in` (over in_shape) for a reshape to out_shape; empty map when the channel block does
// not survive as a block of output dims (the caller fixes the atoms).
ChannelMap reshape_map(const ChannelMap& in, const ir::Shape& is, const ir::Shape& os) {
  ChannelMap out;
  if (in.empty()) return out;
  const size_t a = in.dims.front(), b = in.dims.back() + 1;
  if (b - a != in.dims.size() || a == 0) return out;  // not contiguous, or includes the batch
  const int64_t pre = prod(is, 0, a), P = prod(is, a, b), S = prod(is, b, is.size());
  if (os.empty()) return out;
  size_t a2 = 1;  // the batch dim stays dim 0
  int64_t p = os[0];
  while (a2 < os.size() && p < pre) p *= os[a2++];
  if (p != pre) return out;
  size_t b2 = a2;
  int64_t q = 1;
  while (b2 < os.size()) {
    q *= os[b2++];
    if (q >= P && q % P == 0 && S % (q / P) == 0) break;
  }
  if (q < P || q % P != 0 || S % (q / P) != 0) return out;
  const int64_t s2 = q / P;
  for (size_t d = a2; d < b2; ++d) out.dims.push_back(static_cast<int64_t>(d));
  for (int64_t k = 0; k < q; ++k) out.atoms.push_back(in.atoms[k / s2]);
  return out;
}

void reshape(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  if (in.empty()) return;
  ChannelMap out = reshape_map(in, n.input(0)->shape(), n.output()->shape());
  if (out.empty()) {
    g.fix(in, "reshape that breaks the channel block");
    return;
  }
  if (out.dims.size() > 1 && feeds_attention_matmul(g, n.output())) {
    // A head split: only the head dim (the first) may shrink: unite the atoms within each head.
    const int64_t inner = static_cast<int64_t>(out.atoms.size()) / n.output()->shape()[out.dims.front()];
    for (size_t k = 0; k < out.atoms.size(); ++k) g.unite(out.atoms[k], out.atoms[k - k % inner]);
  } else if (out.dims.size() > 1) {
    // Only the last channel dim may shrink: unite the atoms across the leading ones.
    const int64_t last = n.output()->shape()[out.dims.back()];
    for (size_t k = 0; k < out.atoms.size(); ++k) g.unite(out.atoms[k], out.atoms[k % last]);
  }
  g.set_map(n.output(), out);
}

void reshape_update(ir::Node& n, const DependencyGraph& g, const RemovedAtoms& removed) {
  if (n.op() != "reshape") return;  // flatten's attributes name dims, not sizes
  const ChannelMap& out = g.map(n.output());
  if (out.empty()) return;
  std::vector<int64_t> shape = n.attrs().is("shape");
  const ir::Shape& os = n.output()->shape();
  const int64_t total = static_cast<int64_t>(out.atoms.size()), kept = kept_positions(out, removed);
  if (kept == total) return;
  // The dim that shrinks: the head dim of a head split, else the last of the block.
  const bool heads = out.dims.size() > 1 && feeds_attention_matmul(g, n.output());
  const size_t d = static_cast<size_t>(heads ? out.dims.front() : out.dims.back());
  int64_t others = 1;
  for (int64_t c : out.dims)
    if (static_cast<size_t>(c) != d) others *= os[c];
  if (d < shape.size() && shape[d] != -1) shape[d] = kept / others;
  // A 0 ("copy the input dim") elsewhere in the channel block would now copy a shrunken dim.
  for (int64_t c : out.dims)
    if (static_cast<size_t>(c) != d && shape[c] == 0) shape[c] = os[c];
  n.attrs().set("shape", shape);
}

// Output dim k takes input dim perm[k].
void permute_by(const ir::Node& n, DependencyGraph& g, const std::vector<int64_t>& perm) {
  const ChannelMap& in = g.map(n.input(0));
  if (in.empty()) return;
  const ir::Shape& is = n.input(0)->shape();
  ChannelMap out;
  std::vector<int64_t> src;  // input dim of each output channel dim, in output order
  for (size_t k = 0; k < perm.size(); ++k)
    if (std::find(in.dims.begin(), in.dims.end(), perm[k]) != in.dims.end()) {
      out.dims.push_back(static_cast<int64_t>(k));
      src.push_back(perm[k]);
    }
  // Strides of the input's channel dims within `in.atoms` (row-major over in.dims).
  std::map<int64_t, int64_t> stride;
  int64_t s = 1;
  for (size_t i = in.dims.size(); i-- > 0;) {
    stride[in.dims[i]] = s;
    s *= is[in.dims[i]];
  }
  std::vector<int64_t> idx(src.size(), 0);
  for (int64_t k = 0; k < static_cast<int64_t>(in.atoms.size()); ++k) {
    int64_t pos = 0;
    for (size_t i = 0; i < src.size(); ++i) pos += idx[i] * stride[src[i]];
    out.atoms.push_back(in.atoms[pos]);
    for (size_t i = src.size(); i-- > 0;) {
      if (++idx[i] < is[src[i]]) break;
      idx[i] = 0;
    }
  }
  g.set_map(n.output(), out);
}

void transpose(const ir::Node& n, DependencyGraph& g) {
  const int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  std::vector<int64_t> perm(rank);
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[wrap(n.attrs().i("dim0"), rank)], perm[wrap(n.attrs().i("dim1"), rank)]);
  permute_by(n, g, perm);
}

void permute(const ir::Node& n, DependencyGraph& g) {
  const int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  std::vector<int64_t> perm = n.attrs().is("dims");
  for (auto& p : perm) p = wrap(p, rank);
  permute_by(n, g, perm);
}

// Ops that remove or insert dims without moving data: channel dims shift with them.
void shift_dims(const ir::Node& n, DependencyGraph& g, const std::vector<int64_t>& removed_dims,
                const std::vector<int64_t>& inserted_dims, bool reduces) {
  const ChannelMap& in = g.map(n.input(0));
  if (in.empty()) return;
  for (int64_t d : in.dims)
    if (std::find(removed_dims.begin(), removed_dims.end(), d) != removed_dims.end()) {
      g.fix(in, reduces ? "reduction over channels" : "squeeze of a channel dim");
      return;
    }
  ChannelMap out = in;
  for (auto& d : out.dims) {
    int64_t shift = 0;
    for (int64_t r : removed_dims) shift -= r < d;
    d += shift;
    for (int64_t ins : inserted_dims) d += ins <= d;
  }
  g.set_map(n.output(), out);
}

void flatten_or_reshape(const ir::Node& n, DependencyGraph& g) { reshape(n, g); }

void unsqueeze(const ir::Node& n, DependencyGraph& g) {
  const int64_t rank = static_cast<int64_t>(n.output()->shape().size());
  shift_dims(n, g, {}, {wrap(n.attrs().i("dim"), rank)}, false);
}

void expand(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  if (in.empty()) return;
  const std::vector<int64_t>& shape = n.attrs().is("shape");
  const int64_t lead = static_cast<int64_t>(shape.size() - n.input(0)->shape().size());
  for (int64_t d : in.dims)
    if (shape[static_cast<size_t>(d + lead)] != -1) {
      g.fix(in, "expand with a fixed size at a channel dim");
      return;
    }
  std::vector<int64_t> inserted;
  for (int64_t d = 0; d < lead; ++d) inserted.push_back(d);
  shift_dims(n, g, {}, inserted, false);
}

void squeeze(const ir::Node& n, DependencyGraph& g) {
  const ir::Shape& is = n.input(0)->shape();
  const int64_t rank = static_cast<int64_t>(is.size());
  std::vector<int64_t> dims;
  for (int64_t d : n.attrs().is("dims", {})) dims.push_back(wrap(d, rank));
  if (!n.attrs().has("dims"))
    for (int64_t d = 0; d < rank; ++d)
      if (is[d] == 1) dims.push_back(d);
  std::vector<int64_t> removed;
  for (int64_t d : dims)
    if (is[d] == 1) removed.push_back(d);
  shift_dims(n, g, removed, {}, false);
}

void mean(const ir::Node& n, DependencyGraph& g) {
  const int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  std::vector<int64_t> dims;
  for (int64_t d : n.attrs().is("dims")) dims.push_back(wrap(d, rank));
  if (n.attrs().i("keepdim", 0)) {
    const ChannelMap& in = g.map(n.input(0));
    for (int64_t d : in.dims)
      if (std::find(dims.begin(), dims.end(), d) != dims.end()) {
        g.fix(in, "reduction over channels");
        return;
      }
    g.set_map(n.output(), in);
    return;
  }
  shift_dims(n, g, dims, {}, true);
}

void index_select(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  const int64_t d = wrap(n.attrs().i("dim"), static_cast<int64_t>(n.input(0)->shape().size()));
  if (std::find(in.dims.begin(), in.dims.end(), d) != in.dims.end()) {
    g.fix(in, "index_select over channels");
    return;
  }
  g.set_map(n.output(), in);
}

}  // namespace

void register_channel_rules_shape() {
  register_channel_rule("cat", {cat, {}});
  register_channel_rule("split", {split, split_update});
  register_channel_rule("flatten", {flatten_or_reshape, reshape_update});
  register_channel_rule("reshape", {flatten_or_reshape, reshape_update});
  register_channel_rule("transpose", {transpose, {}});
  register_channel_rule("permute", {permute, {}});
  register_channel_rule("unsqueeze", {unsqueeze, {}});
  register_channel_rule("squeeze", {squeeze, {}});
  register_channel_rule("expand", {expand, {}});
  register_channel_rule("mean", {mean, {}});
  register_channel_rule("index_select", {index_select, {}});
}

}  // namespace mc::prune
