// Channel rules of per-element ops and pooling.
//   Unary activations, dropout, pooling, pad and cast: channels pass through unchanged.
//   softmax/log_softmax over a channel dim mix channels: those atoms are fixed.
//   add/sub/mul/div, eq, where (numpy broadcasting, shapes aligned on the right): tracked inputs whose
//     channels line up with the output's are united position by position (a residual add couples
//     all its inputs; SE's mul(x, sigmoid(fc2)) couples fc2's outputs with the block's channels).
//     A stored operand with a full channel dim owns one slice per channel (stat); a broadcast
//     operand (size 1) owns none. An untracked activation with a full channel dim fixes them.
//   fake_quant: per-tensor passes through; per-channel along a channel dim also owns the
//     scale/zero_point slices.
//   dynamic_quant passes through (its run-time qparams then come from the channels that remain,
//     as ONNX Runtime's DynamicQuantizeLinear computes them on the pruned model).
#include "pruning/channel_rules.h"

namespace mc::prune {

namespace {

void pass_through(const ir::Node& n, DependencyGraph& g) { g.set_map(n.output(), g.map(n.input(0))); }

void softmax(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  int64_t d = n.attrs().i("dim");
  if (d < 0) d += rank;
  for (int64_t x : in.dims)
    if (x == d) g.fix(in, "softmax over channels");
  g.set_map(n.output(), in);
}

void fake_quant(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  int64_t axis = n.attrs().i("axis", -1);
  if (axis >= 0 && !in.empty()) {
    if (in.dims.size() == 1 && in.dims[0] == axis) {
      for (size_t i = 1; i < n.inputs().size(); ++i) {
        std::string t = g.stored_tensor(n.input(i));
        if (t.empty()) {
          g.fix(in, "fake_quant parameters are not stored tensors");
          continue;
        }
        for (size_t p = 0; p < in.atoms.size(); ++p)
          g.add_member(in.atoms[p], Member{t, 0, static_cast<int64_t>(p), Role::stat, &n});
      }
    } else {
      g.fix(in, "per-channel fake_quant across channels");
    }
  }
  g.set_map(n.output(), in);
}

// Broadcasting binary op: see the header comment.
void binary(const ir::Node& n, DependencyGraph& g) {
  const ir::Shape& out_shape = n.output()->shape();
  const int64_t rank = static_cast<int64_t>(out_shape.size());
  // The output map: the first tracked input whose channels span full output dims.
  ChannelMap out;
  for (const ir::Value* v : n.inputs()) {
    const ChannelMap& m = g.map(v);
    if (m.empty()) continue;
    int64_t off = rank - static_cast<int64_t>(v->shape().size());
    bool full = true;
    for (int64_t d : m.dims) full = full && v->shape()[d] == out_shape[d + off] && out_shape[d + off] > 1;
    if (!full) continue;
    out = m;
    for (auto& d : out.dims) d += off;
    break;
  }
  for (const ir::Value* v : n.inputs()) {
    const ChannelMap& m = g.map(v);
    const int64_t off = rank - static_cast<int64_t>(v->shape().size());
    if (out.empty()) {
      g.fix(m, "elementwise op without a full channel operand");
      continue;
    }
    if (!m.empty()) {
      std::vector<int64_t> dims = m.dims;
      for (auto& d : dims) d += off;
      if (dims == out.dims && m.atoms.size() == out.atoms.size()) {
        for (size_t p = 0; p < m.atoms.size(); ++p) g.unite(m.atoms[p], out.atoms[p]);
      } else {
        g.fix(m, "broadcast over channels");
      }
      continue;
    }
    // Untracked operand: a stored tensor owns its channel slices; an activation pins them.
    bool broadcast = true;
    for (int64_t d : out.dims) {
      int64_t vd = d - off;
      if (vd >= 0 && v->shape()[vd] != 1) broadcast = false;
    }
    if (broadcast) continue;
    std::string t = g.stored_tensor(v);
    if (!t.empty() && out.dims.size() == 1 && out.dims[0] - off >= 0) {
      for (size_t p = 0; p < out.atoms.size(); ++p)
        g.add_member(out.atoms[p], Member{t, out.dims[0] - off, static_cast<int64_t>(p), Role::stat, &n});
    } else {
      g.fix(out, "untracked operand with full channels");
    }
  }
  g.set_map(n.output(), out);
}

}  // namespace

void register_channel_rules_elementwise() {
  for (const char* op : {"relu", "hardtanh", "sigmoid", "hardsigmoid", "hardswish", "silu", "gelu", "tanh",
                         "leaky_relu", "identity", "dropout", "stochastic_depth", "max_pool2d", "avg_pool2d",
                         "adaptive_avg_pool2d", "adaptive_max_pool2d", "pad", "dynamic_quant", "cast"})
    register_channel_rule(op, {pass_through, {}});
  register_channel_rule("softmax", {softmax, {}});
  register_channel_rule("log_softmax", {softmax, {}});
  register_channel_rule("fake_quant", {fake_quant, {}});
  for (const char* op : {"add", "sub", "mul", "div", "eq", "where"}) register_channel_rule(op, {binary, {}});
}

}  // namespace mc::prune
