// Channel rules of layers with weights: conv2d, linear, matmul, embedding, batch_norm, layer_norm.
//   conv2d (groups = 1): input channel c is consumed by w[:, c]; output channels are fresh atoms
//     owning w[o] and b[o].
//   conv2d depthwise (groups = Cin = Cout): channel c passes through, owning w[c] and b[c]; the
//     `groups` attribute follows the new channel count.
//   conv2d grouped otherwise: input and output channels are fixed (whole-group pruning is not
//     implemented).
//   linear / matmul(x, W): the last dim of x is consumed (w[:, i] / W[i, :]); the last dim of the
//     output is fresh (w[o], b[o] / W[:, o]). Features that are not the last dim are fixed.
//   embedding(ids, w): the last dim of the output is fresh, owning the columns w[:, o]; the ids
//     carry no channels.
//     matmul of two activations (attention) is channel_rules_attention.cpp's.
//   batch_norm: channels (dim 1) pass through, owning weight/bias (out) and running stats (stat).
//   layer_norm: normalising over a channel dim mixes channels: those atoms are fixed, unless
//     ChannelOptions::through_layer_norm and the norm is over the last dim alone, where the
//     channels pass through, owning weight[c] and bias[c] (out: zeroing both zeroes the output
//     channel), and normalized_shape follows the new count. Not output-preserving (the statistics
//     are then over fewer channels): the option is for pruning followed by a fine-tune.
#include <algorithm>

#include "pruning/channel_rules.h"

namespace mc::prune {

namespace {

bool is_single_dim(const ChannelMap& m, int64_t dim) { return m.dims.size() == 1 && m.dims[0] == dim; }

void add_members(DependencyGraph& g, const ChannelMap& m, const std::string& tensor, int64_t dim, Role role,
                 const ir::Node& n) {
  if (tensor.empty()) return;
  for (size_t p = 0; p < m.atoms.size(); ++p)
    g.add_member(m.atoms[p], Member{tensor, dim, static_cast<int64_t>(p), role, &n});
}

// Output channels of a weight layer: fresh atoms owning w[dim_w] and bias.
ChannelMap fresh_outputs(DependencyGraph& g, const ir::Node& n, int64_t out_dim, int64_t count,
                         const std::string& w, int64_t w_dim, const std::string& b) {
  ChannelMap out = g.fresh(out_dim, count);
  if (w.empty()) g.fix(out, "weight is not a stored tensor");
  add_members(g, out, w, w_dim, Role::out, n);
  add_members(g, out, b, 0, Role::out, n);
  return out;
}

void conv2d(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  const int64_t groups = n.attrs().i("groups", 1);
  const int64_t cin = n.input(0)->shape().at(1), cout = n.output()->shape().at(1);
  const std::string w = g.stored_tensor(n.input(1));
  const std::string b = n.inputs().size() > 2 ? g.stored_tensor(n.input(2)) : "";
  const bool tracked_in = is_single_dim(in, 1);
  if (!in.empty() && !tracked_in) g.fix(in, "conv input channels not on dim 1");
  if (groups == 1) {
    if (tracked_in) {
      if (w.empty()) g.fix(in, "weight is not a stored tensor");
      add_members(g, in, w, 1, Role::in, n);
    }
    g.set_map(n.output(), fresh_outputs(g, n, 1, cout, w, 0, b));
  } else if (groups == cin && cout == cin && tracked_in) {
    if (w.empty()) g.fix(in, "weight is not a stored tensor");
    add_members(g, in, w, 0, Role::out, n);
    add_members(g, in, b, 0, Role::out, n);
    g.set_map(n.output(), in);
  } else {
    g.fix(in, "grouped conv");
    ChannelMap out = g.fresh(1, cout);
    g.fix(out, "grouped conv");
    g.set_map(n.output(), out);
  }
}

void conv2d_update(ir::Node& n, const DependencyGraph& g, const RemovedAtoms& removed) {
  const int64_t groups = n.attrs().i("groups", 1);
  if (groups == 1) return;
  const ChannelMap& in = g.map(n.input(0));
  // Depthwise: the only grouped convs whose channels can be removed (others are fixed).
  if (is_single_dim(in, 1) && static_cast<int64_t>(in.atoms.size()) == groups &&
      g.map(n.output()).atoms == in.atoms)
    n.attrs().set("groups", kept_positions(in, removed));
}

// linear(x, w, b): y = x w^T + b; matmul(x, W) with W stored: y = x W.
void feature_layer(const ir::Node& n, DependencyGraph& g, bool is_matmul) {
  const ChannelMap& in = g.map(n.input(0));
  const int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  const std::string w = g.stored_tensor(n.input(1));
  if (is_matmul && g.stored_tensor(n.input(0)).empty() && w.empty()) return attention_matmul(n, g);
  if (is_matmul && (w.empty() || n.input(1)->shape().size() != 2)) {
    g.fix(in, "matmul with a stored left operand or a batched weight");
    g.fix(g.map(n.input(1)), "matmul with a stored left operand or a batched weight");
    return;  // output untracked
  }
  const int64_t last = rank - 1;
  if (is_single_dim(in, last)) {
    if (w.empty()) g.fix(in, "weight is not a stored tensor");
    add_members(g, in, w, is_matmul ? 0 : 1, Role::in, n);
  } else {
    g.fix(in, "features not on the last dim");
  }
  const std::string b = (!is_matmul && n.inputs().size() > 2) ? g.stored_tensor(n.input(2)) : "";
  const int64_t out = n.output()->shape().back();
  g.set_map(n.output(), fresh_outputs(g, n, last, out, w, is_matmul ? 1 : 0, b));
}

void batch_norm(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  if (!in.empty() && !is_single_dim(in, 1)) g.fix(in, "batch_norm channels not on dim 1");
  if (is_single_dim(in, 1)) {
    const Role roles[] = {Role::out, Role::out, Role::stat, Role::stat};
    for (size_t i = 1; i < n.inputs().size() && i <= 4; ++i) {
      std::string t = g.stored_tensor(n.input(i));
      if (t.empty()) g.fix(in, "batch_norm parameter is not a stored tensor");
      add_members(g, in, t, 0, roles[i - 1], n);
    }
  }
  g.set_map(n.output(), in);
}

void embedding(const ir::Node& n, DependencyGraph& g) {
  const int64_t rank = static_cast<int64_t>(n.output()->shape().size());
  const std::string w = g.stored_tensor(n.input(1));
  g.set_map(n.output(), fresh_outputs(g, n, rank - 1, n.output()->shape().back(), w, 1, ""));
}

void layer_norm(const ir::Node& n, DependencyGraph& g) {
  const ChannelMap& in = g.map(n.input(0));
  const int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  const int64_t k = static_cast<int64_t>(n.attrs().is("normalized_shape").size());
  if (g.options().through_layer_norm && k == 1 && is_single_dim(in, rank - 1)) {
    for (size_t i = 1; i < n.inputs().size() && i <= 2; ++i) {
      const std::string t = g.stored_tensor(n.input(i));
      if (t.empty()) g.fix(in, "layer_norm parameter is not a stored tensor");
      add_members(g, in, t, 0, Role::out, n);
    }
    g.set_map(n.output(), in);
    return;
  }
  for (int64_t d : in.dims)
    if (d >= rank - k) g.fix(in, "layer_norm normalises over channels");
  g.set_map(n.output(), in);
}

void layer_norm_update(ir::Node& n, const DependencyGraph& g, const RemovedAtoms& removed) {
  const ChannelMap& in = g.map(n.input(0));
  const int64_t rank = static_cast<int64_t>(n.input(0)->shape().size());
  if (g.options().through_layer_norm && n.attrs().is("normalized_shape").size() == 1 && is_single_dim(in, rank - 1))
    n.attrs().set("normalized_shape", std::vector<int64_t>{kept_positions(in, removed)});
}

}  // namespace

void register_channel_rules_layers() {
  register_channel_rule("conv2d", {conv2d, conv2d_update});
  register_channel_rule("linear", {[](const ir::Node& n, DependencyGraph& g) { feature_layer(n, g, false); }, {}});
  register_channel_rule("matmul", {[](const ir::Node& n, DependencyGraph& g) { feature_layer(n, g, true); }, {}});
  register_channel_rule("embedding", {embedding, {}});
  register_channel_rule("batch_norm", {batch_norm, {}});
  register_channel_rule("layer_norm", {layer_norm, layer_norm_update});
}

}  // namespace mc::prune
