// Channel rules of attention: the matmul of two activations and the head split feeding it.
//   matmul(a, b), a: [.., M, K], b: [.., K, N], neither operand stored (q k^T, attn v):
//     - dims between the batch dim and the last two that carry channels in both operands are
//       heads: every atom of head h in a and in b is united into one unit (q, k and v of a head
//       are removed together, with the out-projection's columns that consume it), and the output
//       keeps the head dims;
//     - without head dims, a contraction dim carrying channels in both (a's last, b's second to
//       last: single-head q and k) is united position by position and disappears;
//     - b's last dim (v's features) passes its atoms to the output.
//     Any other layout (channels on a's row dim, on one operand's head dims only, broadcast batch
//     dims) fixes both operands.
//   A reshape that splits channels into several dims and reaches such a matmul (through
//     transposes, permutes, scalar scaling, dropout) is a head split [.., D] -> [.., H, dh]: its
//     atoms are united within each head, so whole heads go and H shrinks. Elsewhere a split block
//     shrinks its last dim (channel shuffle: channel_rules_shape.cpp).
#include <algorithm>

#include "pruning/channel_rules.h"

namespace mc::prune {

namespace {

bool is_stored(const DependencyGraph& g, const ir::Value* v) { return !g.stored_tensor(v).empty(); }

/// Coordinate along `dim` of position `p` of `m` (row-major over m.dims of `shape`).
int64_t coord(const ChannelMap& m, const ir::Shape& shape, int64_t p, int64_t dim) {
  for (size_t i = m.dims.size(); i-- > 0;) {
    const int64_t size = shape[static_cast<size_t>(m.dims[i])];
    if (m.dims[i] == dim) return p % size;
    p /= size;
  }
  return 0;
}

bool has(const ChannelMap& m, int64_t d) { return std::find(m.dims.begin(), m.dims.end(), d) != m.dims.end(); }

/// The head index of position p: row-major over the head dims `heads`.
int64_t head_of(const ChannelMap& m, const ir::Shape& shape, int64_t p, const std::vector<int64_t>& heads) {
  int64_t h = 0;
  for (int64_t d : heads) h = h * shape[static_cast<size_t>(d)] + coord(m, shape, p, d);
  return h;
}

}  // namespace

bool feeds_attention_matmul(const DependencyGraph& g, const ir::Value* v) {
  for (const ir::Node* u : v->users()) {
    const std::string& op = u->op();
    if (op == "matmul" && !is_stored(g, u->input(0)) && !is_stored(g, u->input(1))) return true;
    const bool scalar_scale = (op == "mul" || op == "div") && u->inputs().size() == 2 &&
                              (u->input(0) == v ? u->input(1) : u->input(0))->type().numel() == 1;
    if ((op == "transpose" || op == "permute" || op == "dropout" || op == "identity" || scalar_scale) &&
        feeds_attention_matmul(g, u->output()))
      return true;
  }
  return false;
}

void attention_matmul(const ir::Node& n, DependencyGraph& g) {
  const ir::Value* a = n.input(0);
  const ir::Value* b = n.input(1);
  const ChannelMap& ma = g.map(a);
  const ChannelMap& mb = g.map(b);
  if (ma.empty() && mb.empty()) return;  // output untracked
  const ir::Shape &as = a->shape(), &bs = b->shape();
  const int64_t r = static_cast<int64_t>(as.size());
  auto refuse = [&] {
    g.fix(ma, "matmul of activations");
    g.fix(mb, "matmul of activations");
  };
  if (r < 2 || static_cast<int64_t>(bs.size()) != r || !std::equal(as.begin(), as.end() - 2, bs.begin()) ||
      has(ma, 0) || has(mb, 0) || has(ma, r - 2))
    return refuse();
  std::vector<int64_t> heads;
  for (int64_t d = 1; d < r - 2; ++d) {
    if (has(ma, d) != has(mb, d)) return refuse();
    if (has(ma, d)) heads.push_back(d);
  }
  const bool contract = has(ma, r - 1);
  if (contract != has(mb, r - 2)) return refuse();
  const bool features = has(mb, r - 1);
  if (!heads.empty()) {
    int64_t count = 1;
    for (int64_t d : heads) count *= as[static_cast<size_t>(d)];
    std::vector<int64_t> head_atom(static_cast<size_t>(count), -1);
    for (const auto* side : {&ma, &mb}) {
      const ir::Shape& s = side == &ma ? as : bs;
      for (int64_t p = 0; p < static_cast<int64_t>(side->atoms.size()); ++p) {
        int64_t& first = head_atom[static_cast<size_t>(head_of(*side, s, p, heads))];
        if (first < 0) first = side->atoms[p];
        else g.unite(first, side->atoms[p]);
      }
    }
  } else if (contract) {
    if (features) return refuse();  // b's atoms over (K, N): one per K would merge every N
    for (size_t p = 0; p < ma.atoms.size(); ++p) g.unite(ma.atoms[p], mb.atoms[p]);
  }
  ChannelMap out;
  out.dims = heads;
  if (features) out.dims.push_back(r - 1);
  if (out.dims.empty()) return;  // scores of a single head: untracked
  // One atom per output position: b's atom at (heads, K = 0, N). b is tracked here: with b untracked
  // any channel of a was refused above.
  for (int64_t p = 0; p < static_cast<int64_t>(mb.atoms.size()); ++p)
    if (!contract || coord(mb, bs, p, r - 2) == 0) out.atoms.push_back(mb.atoms[p]);
  g.set_map(n.output(), out);
}

}  // namespace mc::prune
