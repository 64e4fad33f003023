#include "export/qdq_layout.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mc::exporter {

namespace {

bool value_preserving(const std::string& op) {
  return op == "MaxPool" || op == "Flatten" || op == "Reshape" || op == "Transpose" || op == "Squeeze" ||
         op == "Unsqueeze" || op == "Identity" || op == "Concat";
}

// Names not yet used in a graph (initializers, inputs, nodes, values): `base`, else base_1, base_2...
class FreshNames {
 public:
  explicit FreshNames(const onnx::GraphProto& g) {
    for (const auto& t : g.initializer()) used_.insert(t.name());
    for (const auto& v : g.input()) used_.insert(v.name());
    for (const auto& n : g.node()) {
      used_.insert(n.name());
      for (const auto& o : n.output()) used_.insert(o);
    }
  }
  std::string operator()(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }

 private:
  std::set<std::string> used_;
};

class Layout {
 public:
  explicit Layout(onnx::GraphProto& g) : g_(g), fresh(g) {
    for (const auto& t : g_.initializer()) init_[t.name()] = &t;
    for (const auto& v : g_.output()) graph_outputs_.insert(v.name());
    for (int i = 0; i < g_.node_size(); ++i)
      for (const auto& o : g_.node(i).output()) producer_[o] = i;
  }

  QdqLayoutSummary run() {
    QdqLayoutSummary s;
    // Pending insertions, by original node index: nodes to emit before it / after it.
    std::map<int, std::vector<onnx::NodeProto>> before, after;
    const int count = g_.node_size();
    for (int i = 0; i < count; ++i) {
      onnx::NodeProto& n = *g_.mutable_node(i);
      for (int k : activation_inputs(n)) {
        const std::string& in = n.input(k);
        auto p = producer(in);
        if (!p || (*p)->op_type() == "DequantizeLinear" || !value_preserving((*p)->op_type())) continue;
        auto dq = grid_of(in, 0);
        if (!dq) continue;
        auto [q, d] = make_pair_from(**dq, in, n.name() + "/requant");
        n.set_input(k, d.output(0));
        before[i].push_back(std::move(q));
        before[i].push_back(std::move(d));
        ++s.requantized;
      }
    }
    // Readers of each value: (node index, input slot), in graph order (insertions included).
    std::map<std::string, std::vector<std::pair<onnx::NodeProto*, int>>> readers;
    std::vector<onnx::NodeProto> order;
    for (int i = 0; i < count; ++i) {
      for (auto& n : before[i]) order.push_back(std::move(n));
      order.push_back(g_.node(i));
    }
    for (auto& n : order)
      for (int k = 0; k < n.input_size(); ++k) readers[n.input(k)].push_back({&n, k});
    std::map<std::string, std::vector<onnx::NodeProto>> clones;  // after the DQ producing the key
    std::map<std::string, int> q_readers;
    for (auto& n : order)
      if (n.op_type() == "QuantizeLinear") q_readers[n.output(0)] = static_cast<int>(readers[n.output(0)].size());
    for (auto& d : order) {
      if (d.op_type() != "DequantizeLinear" || d.input_size() < 2) continue;
      const std::string& out = d.output(0);
      auto qp = q_readers.find(d.input(0));
      if (qp == q_readers.end() || qp->second != 1) continue;  // not an activation pair
      auto& rs = readers[out];
      size_t keep = graph_outputs_.count(out) ? 0 : 1;
      if (rs.size() <= keep) continue;
      const onnx::NodeProto* q = find_in(order, d.input(0));
      if (!q) continue;
      // Q(relu(x)) with the zero-point at the bottom of its type: ORT drops the Relu (ReluQuantFusion)
      // only while it feeds that one Q, so the Relu is cloned with the pair.
      const onnx::NodeProto* relu = find_in(order, q->input(0));
      if (relu && !(relu->op_type() == "Relu" && readers[relu->output(0)].size() == 1 && is_dq(relu->input(0)) &&
                    zero_point_at_bottom(q->input_size() > 2 ? init(q->input(2)) : nullptr)))
        relu = nullptr;
      for (size_t r = keep; r < rs.size(); ++r) {
        auto [qc, dc] = clone_pair(*q, d);
        if (relu) {
          onnx::NodeProto rc = *relu;
          rc.set_name(fresh(relu->name() + "/clone"));
          rc.set_output(0, fresh(relu->output(0) + "/clone"));
          qc.set_input(0, rc.output(0));
          clones[out].push_back(std::move(rc));
        }
        rs[r].first->set_input(rs[r].second, dc.output(0));
        clones[out].push_back(std::move(qc));
        clones[out].push_back(std::move(dc));
        ++s.cloned;
      }
    }
    if (s.requantized == 0 && s.cloned == 0) return s;
    auto* nodes = g_.mutable_node();
    nodes->Clear();
    for (auto& n : order) {
      std::string out = n.output_size() ? n.output(0) : std::string();
      *nodes->Add() = std::move(n);
      auto c = clones.find(out);
      if (c != clones.end())
        for (auto& m : c->second) *nodes->Add() = std::move(m);
    }
    for (auto& t : new_inits_) *g_.add_initializer() = std::move(t);
    return s;
  }

 private:
  // Inputs of a quantized consumer that must come from a DequantizeLinear for ORT to fuse it.
  std::vector<int> activation_inputs(const onnx::NodeProto& n) const {
    const std::string& op = n.op_type();
    if ((op == "Conv" || op == "Gemm") && n.input_size() >= 2 && is_dq(n.input(1))) return {0};
    if (op == "MatMul" && n.input_size() == 2 && (is_dq(n.input(0)) || is_dq(n.input(1)))) return {0, 1};
    if (op == "Add" && n.input_size() == 2 && grid_of(n.input(0), 0) && grid_of(n.input(1), 0)) return {0, 1};
    return {};
  }

  bool is_dq(const std::string& v) const {
    auto p = producer(v);
    return p && (*p)->op_type() == "DequantizeLinear";
  }

  std::optional<const onnx::NodeProto*> producer(const std::string& v) const {
    auto it = producer_.find(v);
    if (it == producer_.end()) return std::nullopt;
    return &g_.node(it->second);
  }

  // The per-tensor activation DequantizeLinear whose grid `v` lies on: `v` is its output, or the
  // output of value-preserving ops over outputs of DequantizeLinears with equal scale and
  // zero-point. nullopt otherwise.
  std::optional<const onnx::NodeProto*> grid_of(const std::string& v, int depth) const {
    if (depth > 32) return std::nullopt;
    auto p = producer(v);
    if (!p) return std::nullopt;
    const onnx::NodeProto& n = **p;
    if (n.op_type() == "DequantizeLinear") {
      if (n.input_size() < 3) return std::nullopt;
      auto q = producer(n.input(0));
      if (!q || (*q)->op_type() != "QuantizeLinear") return std::nullopt;  // a weight
      const onnx::TensorProto* s = init(n.input(1));
      if (!s || s->dims_size() != 0 || !init(n.input(2))) return std::nullopt;
      return &n;
    }
    if (!value_preserving(n.op_type()) || n.input_size() == 0) return std::nullopt;
    const int data_inputs = n.op_type() == "Concat" ? n.input_size() : 1;
    std::optional<const onnx::NodeProto*> first;
    for (int k = 0; k < data_inputs; ++k) {
      auto d = grid_of(n.input(k), depth + 1);
      if (!d) return std::nullopt;
      if (!first) {
        first = d;
      } else if (!same(init((*first)->input(1)), init((*d)->input(1))) ||
                 !same(init((*first)->input(2)), init((*d)->input(2)))) {
        return std::nullopt;
      }
    }
    return first;
  }

  const onnx::TensorProto* init(const std::string& name) const {
    auto it = init_.find(name);
    return it == init_.end() ? nullptr : it->second;
  }

  static bool same(const onnx::TensorProto* a, const onnx::TensorProto* b) {
    if (!a || !b || a->data_type() != b->data_type() || a->dims_size() != b->dims_size()) return false;
    for (int i = 0; i < a->dims_size(); ++i)
      if (a->dims(i) != b->dims(i)) return false;
    return a->raw_data() == b->raw_data() && a->float_data_size() == 0 && b->float_data_size() == 0 &&
           a->int32_data_size() == 0 && b->int32_data_size() == 0;
  }

  // uint8 zero-point 0 or int8 -128: the grid starts at 0, where a Relu clips.
  static bool zero_point_at_bottom(const onnx::TensorProto* z) {
    if (!z || z->raw_data().size() != 1) return false;
    const auto b = static_cast<unsigned char>(z->raw_data()[0]);
    return (z->data_type() == onnx::TensorProto_DataType_UINT8 && b == 0) ||
           (z->data_type() == onnx::TensorProto_DataType_INT8 && b == 0x80);
  }

  static const onnx::NodeProto* find_in(const std::vector<onnx::NodeProto>& order, const std::string& out) {
    for (const auto& n : order)
      if (n.output_size() && n.output(0) == out) return &n;
    return nullptr;
  }

  // A copy of an initializer under a fresh name (clones must not share qparam tensors, see header).
  std::string copy_init(const std::string& name) {
    onnx::TensorProto t = *init(name);
    t.set_name(fresh(name));
    std::string n = t.name();
    new_inits_.push_back(std::move(t));
    return n;
  }

  // Q -> DQ of `value` on the grid of `dq` (same scale / zero-point, fresh copies).
  std::pair<onnx::NodeProto, onnx::NodeProto> make_pair_from(const onnx::NodeProto& dq, const std::string& value,
                                                              const std::string& base) {
    std::string s = copy_init(dq.input(1)), z = copy_init(dq.input(2));
    onnx::NodeProto q;
    q.set_op_type("QuantizeLinear");
    q.set_name(fresh(base + "/QuantizeLinear"));
    q.add_input(value);
    q.add_input(s);
    q.add_input(z);
    q.add_output(fresh(base + "/q"));
    onnx::NodeProto d;
    d.set_op_type("DequantizeLinear");
    d.set_name(fresh(base + "/DequantizeLinear"));
    d.add_input(q.output(0));
    d.add_input(s);
    d.add_input(z);
    d.add_output(fresh(base + "/dq"));
    return {std::move(q), std::move(d)};
  }

  std::pair<onnx::NodeProto, onnx::NodeProto> clone_pair(const onnx::NodeProto& q, const onnx::NodeProto& d) {
    onnx::NodeProto qc = q, dc = d;
    std::string s = copy_init(q.input(1));
    std::string z = q.input_size() > 2 ? copy_init(q.input(2)) : std::string();
    qc.set_name(fresh(q.name() + "/clone"));
    qc.set_input(1, s);
    if (!z.empty()) qc.set_input(2, z);
    qc.set_output(0, fresh(q.output(0) + "/clone"));
    dc.set_name(fresh(d.name() + "/clone"));
    dc.set_input(0, qc.output(0));
    dc.set_input(1, s);
    if (!z.empty() && dc.input_size() > 2) dc.set_input(2, z);
    dc.set_output(0, fresh(d.output(0) + "/clone"));
    return {std::move(qc), std::move(dc)};
  }

  onnx::GraphProto& g_;
  FreshNames fresh;
  std::map<std::string, const onnx::TensorProto*> init_;
  std::map<std::string, int> producer_;
  std::set<std::string> graph_outputs_;
  std::vector<onnx::TensorProto> new_inits_;
};

// Step 3 (header): a Gemm on DequantizeLinear inputs whose output is not quantized loses its
// float bias to an Add right after it.
int split_float_output_gemm_bias(onnx::GraphProto& g) {
  std::map<std::string, std::string> producer_op;
  std::map<std::string, std::vector<std::string>> reader_ops;
  for (const auto& n : g.node()) {
    for (const auto& o : n.output()) producer_op[o] = n.op_type();
    for (const auto& i : n.input()) reader_ops[i].push_back(n.op_type());
  }
  FreshNames fresh(g);
  std::vector<onnx::NodeProto> order;
  int split = 0;
  for (const auto& n : g.node()) {
    order.push_back(n);
    if (n.op_type() != "Gemm" || n.input_size() != 3 || n.input(2).empty()) continue;
    if (producer_op[n.input(0)] != "DequantizeLinear" || producer_op[n.input(1)] != "DequantizeLinear") continue;
    if (producer_op.count(n.input(2))) continue;  // a computed (or quantized int32) bias: left as it is
    const auto& rs = reader_ops[n.output(0)];
    if (std::find(rs.begin(), rs.end(), "QuantizeLinear") != rs.end()) continue;  // ORT fuses it with its Q
    bool plain = true;  // alpha = beta = 1: Y = A B' + C
    for (const auto& a : n.attribute())
      if ((a.name() == "alpha" || a.name() == "beta") && a.f() != 1.0f) plain = false;
    if (!plain) continue;
    onnx::NodeProto& gemm = order.back();
    const std::string out = gemm.output(0), bias = gemm.input(2);
    gemm.mutable_input()->RemoveLast();
    gemm.set_output(0, fresh(out + "/no_bias"));
    onnx::NodeProto add;
    add.set_op_type("Add");
    add.set_name(fresh(gemm.name() + "/bias"));
    add.add_input(gemm.output(0));
    add.add_input(bias);
    add.add_output(out);
    order.push_back(std::move(add));
    ++split;
  }
  if (split == 0) return 0;
  g.mutable_node()->Clear();
  for (auto& n : order) *g.mutable_node()->Add() = std::move(n);
  return split;
}

// Step 4 (header): a Conv reading a uint8 activation with fewer than 4 input channels gets
// them padded to 4: Pad (with the zero point) between the Q and the DQ, zero weights for the new
// channels. Skipped when the weight or the pair is shared, or the layout is not 4-D, group 1.
int pad_narrow_conv_inputs(onnx::GraphProto& g) {
  constexpr int64_t kMinChannels = 4;
  std::map<std::string, int> producer;
  std::map<std::string, int> readers;
  std::map<std::string, onnx::TensorProto*> inits;
  for (auto& t : *g.mutable_initializer()) inits[t.name()] = &t;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    for (const auto& o : n.output()) producer[o] = i;
    for (const auto& in : n.input()) ++readers[in];
  }
  for (const auto& v : g.output()) ++readers[v.name()];
  auto node_of = [&](const std::string& v) -> onnx::NodeProto* {
    auto it = producer.find(v);
    return it == producer.end() ? nullptr : g.mutable_node(it->second);
  };
  FreshNames fresh(g);
  std::vector<std::pair<int, onnx::NodeProto>> pads;  // (index of the DQ to insert before, Pad)
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& conv = g.node(i);
    if (conv.op_type() != "Conv" || conv.input_size() < 2) continue;
    bool grouped = false;
    for (const auto& a : conv.attribute()) grouped = grouped || (a.name() == "group" && a.i() != 1);
    onnx::NodeProto* d = node_of(conv.input(0));
    onnx::NodeProto* wd = node_of(conv.input(1));
    if (grouped || !d || !wd || d->op_type() != "DequantizeLinear" || wd->op_type() != "DequantizeLinear" ||
        d->input_size() < 3 || readers[d->output(0)] != 1 || readers[wd->output(0)] != 1)
      continue;
    onnx::NodeProto* q = node_of(d->input(0));
    auto w = inits.find(wd->input(0));
    if (!q || q->op_type() != "QuantizeLinear" || w == inits.end() || readers[wd->input(0)] != 1) continue;
    // uint8 activations only: ORT converts int8 Q -> DQ pairs to uint8 (QDQS8ToU8) only when the DQ
    // reads the Q directly, so with a Pad between them the Conv would stay in float.
    auto az = inits.find(d->input(2));
    if (az == inits.end() || az->second->data_type() != onnx::TensorProto_DataType_UINT8) continue;
    onnx::TensorProto& wt = *w->second;
    const bool int8 = wt.data_type() == onnx::TensorProto_DataType_INT8;
    if ((!int8 && wt.data_type() != onnx::TensorProto_DataType_UINT8) || wt.dims_size() != 4 ||
        wt.dims(1) >= kMinChannels || !wt.has_raw_data())
      continue;
    const int64_t m = wt.dims(0), c = wt.dims(1), k = wt.dims(2) * wt.dims(3);
    // The new channels hold the weight grid's zero: 0 for int8, the zero point for uint8.
    char zero = 0;
    if (!int8) {
      auto z = wd->input_size() > 2 ? inits.find(wd->input(2)) : inits.end();
      if (z == inits.end() || z->second->raw_data().size() != 1) continue;  // per-channel uint8 zero points
      zero = z->second->raw_data()[0];
    }
    const std::string& raw = wt.raw_data();
    std::string padded(static_cast<size_t>(m * kMinChannels * k), zero);
    for (int64_t o = 0; o < m; ++o)
      raw.copy(&padded[static_cast<size_t>(o * kMinChannels * k)], static_cast<size_t>(c * k), static_cast<size_t>(o * c * k));
    wt.set_dims(1, kMinChannels);
    wt.set_raw_data(padded);

    onnx::TensorProto amounts;
    amounts.set_name(fresh(conv.name() + "/input_pads"));
    amounts.set_data_type(onnx::TensorProto_DataType_INT64);
    amounts.add_dims(8);
    const int64_t v[8] = {0, 0, 0, 0, 0, kMinChannels - c, 0, 0};
    amounts.set_raw_data(std::string(reinterpret_cast<const char*>(v), sizeof(v)));
    onnx::NodeProto pad;
    pad.set_op_type("Pad");
    pad.set_name(fresh(conv.name() + "/pad_input_channels"));
    pad.add_input(d->input(0));
    pad.add_input(amounts.name());
    pad.add_input(d->input(2));  // the activation zero point: dequantizes to 0
    pad.add_output(fresh(conv.name() + "/padded_input"));
    d->set_input(0, pad.output(0));
    *g.add_initializer() = std::move(amounts);
    pads.push_back({producer[conv.input(0)], std::move(pad)});
  }
  if (pads.empty()) return 0;
  std::vector<onnx::NodeProto> order;
  for (int i = 0; i < g.node_size(); ++i) {
    for (auto& [at, pad] : pads)
      if (at == i) order.push_back(std::move(pad));
    order.push_back(g.node(i));
  }
  g.mutable_node()->Clear();
  for (auto& n : order) *g.mutable_node()->Add() = std::move(n);
  return static_cast<int>(pads.size());
}

}  // namespace

QdqLayoutSummary layout_qdq(onnx::GraphProto& graph) {
  bool quantized = false;
  for (const auto& n : graph.node()) quantized = quantized || n.op_type() == "QuantizeLinear";
  if (!quantized) return {};
  QdqLayoutSummary s = Layout(graph).run();
  s.bias_split = split_float_output_gemm_bias(graph);
  s.padded_inputs = pad_narrow_conv_inputs(graph);
  return s;
}

}  // namespace mc::exporter
