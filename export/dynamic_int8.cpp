#include "export/dynamic_int8.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace mc::exporter {

namespace {

int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return dflt;
}

bool has_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return true;
  return false;
}

class Lowering {
 public:
  explicit Lowering(onnx::GraphProto& g) : g_(g) {
    for (auto& t : *g_.mutable_initializer()) init_[t.name()] = &t;
    for (const auto& n : g_.node()) {
      for (const auto& o : n.output()) producer_[o] = &n;
      for (const auto& i : n.input()) ++readers_[i];
    }
    for (const auto& o : g_.output()) ++readers_[o.name()];
  }

  int run() {
    int lowered = 0;
    std::vector<onnx::NodeProto> out;
    for (const auto& n : g_.node()) {
      std::vector<onnx::NodeProto> repl;
      if (lower(n, repl)) {
        ++lowered;
        for (auto& r : repl) out.push_back(std::move(r));
      } else {
        out.push_back(n);
      }
    }
    if (lowered == 0) return 0;
    auto* nodes = g_.mutable_node();
    nodes->Clear();
    for (auto& n : out) *nodes->Add() = std::move(n);
    return lowered;
  }

 private:
  const onnx::NodeProto* producer(const std::string& v) const {
    auto it = producer_.find(v);
    return it == producer_.end() ? nullptr : it->second;
  }

  // The DynamicQuantizeLinear behind a DequantizeLinear that reads all three of its outputs.
  const onnx::NodeProto* dynamic_source(const std::string& v) const {
    const onnx::NodeProto* dq = producer(v);
    if (!dq || dq->op_type() != "DequantizeLinear" || dq->input_size() != 3) return nullptr;
    const onnx::NodeProto* d = producer(dq->input(0));
    if (!d || d->op_type() != "DynamicQuantizeLinear" || d->output_size() != 3) return nullptr;
    for (int k = 0; k < 3; ++k)
      if (dq->input(k) != d->output(k)) return nullptr;
    return d;
  }

  // The weight DequantizeLinear (8-bit initializer, scale, zero point) read only by `reader`.
  onnx::TensorProto* weight_of(const onnx::NodeProto* dq, const std::string& via) {
    if (!dq || dq->op_type() != "DequantizeLinear" || dq->input_size() != 3 || readers_[via] != 1) return nullptr;
    auto w = init_.find(dq->input(0));
    if (w == init_.end() || !init_.count(dq->input(1)) || !init_.count(dq->input(2))) return nullptr;
    onnx::TensorProto* t = w->second;
    const bool eight_bit =
        t->data_type() == onnx::TensorProto_DataType_INT8 || t->data_type() == onnx::TensorProto_DataType_UINT8;
    if (!eight_bit || t->dims_size() != 2 || !t->has_raw_data() || readers_[t->name()] != 1) return nullptr;
    return t;
  }

  static void transpose_in_place(onnx::TensorProto& t) {
    const int64_t r = t.dims(0), c = t.dims(1);
    const std::string& src = t.raw_data();
    std::string dst(src.size(), '\0');
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) dst[static_cast<size_t>(j * r + i)] = src[static_cast<size_t>(i * c + j)];
    t.set_raw_data(dst);
    t.set_dims(0, c);
    t.set_dims(1, r);
  }

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; producer_.count(name) || init_.count(name) || made_.count(name); ++k) name = base + "_" + std::to_string(k);
    made_.insert(name);
    return name;
  }

  static onnx::NodeProto make(const std::string& op, const std::vector<std::string>& in, const std::string& out,
                              const std::string& name) {
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(name);
    for (const auto& i : in) n.add_input(i);
    n.add_output(out);
    return n;
  }

  bool lower(const onnx::NodeProto& n, std::vector<onnx::NodeProto>& repl) {
    const bool gemm = n.op_type() == "Gemm";
    if ((n.op_type() != "MatMul" && !gemm) || n.input_size() < 2) return false;
    if (gemm && (int_attr(n, "transA", 0) != 0 || has_attr(n, "alpha") || has_attr(n, "beta"))) return false;
    const onnx::NodeProto* dyn = dynamic_source(n.input(0));
    if (!dyn) return false;
    // The weight: DQ(W) directly, or Transpose(DQ(W)) with perm [1, 0] (a linear on 3-d input).
    const onnx::NodeProto* b = producer(n.input(1));
    bool transpose = gemm && int_attr(n, "transB", 0) != 0;
    std::string via = n.input(1);
    if (!gemm && b && b->op_type() == "Transpose") {
      std::vector<int64_t> perm;
      for (const auto& a : b->attribute())
        if (a.name() == "perm") perm.assign(a.ints().begin(), a.ints().end());
      if (perm != std::vector<int64_t>{1, 0} || readers_[n.input(1)] != 1) return false;
      via = b->input(0);
      b = producer(via);
      transpose = true;
    }
    onnx::TensorProto* w = weight_of(b, via);
    if (!w) return false;
    // Per-channel scales must lie along the output columns after the transpose.
    const int64_t axis = int_attr(*b, "axis", 1);
    const onnx::TensorProto& ws = *init_.at(b->input(1));
    const bool per_channel = ws.dims_size() == 1 && ws.dims(0) > 1;
    if (per_channel && axis != (transpose ? 0 : 1)) return false;
    if (transpose) transpose_in_place(*w);
    const std::string base = n.name().empty() ? n.output(0) : n.name();
    const std::string acc = fresh(base + "/int32"), accf = fresh(base + "/int32_float"), sc = fresh(base + "/scale");
    repl.push_back(make("MatMulInteger", {dyn->output(0), w->name(), dyn->output(2), b->input(2)}, acc, fresh(base + "/MatMulInteger")));
    onnx::NodeProto cast = make("Cast", {acc}, accf, fresh(base + "/Cast"));
    auto* to = cast.add_attribute();
    to->set_name("to");
    to->set_type(onnx::AttributeProto_AttributeType_INT);
    to->set_i(onnx::TensorProto_DataType_FLOAT);
    repl.push_back(std::move(cast));
    repl.push_back(make("Mul", {dyn->output(1), b->input(1)}, sc, fresh(base + "/scale_mul")));
    const bool bias = gemm && n.input_size() > 2 && !n.input(2).empty();
    if (!bias) {
      repl.push_back(make("Mul", {accf, sc}, n.output(0), fresh(base + "/Mul")));
      return true;
    }
    const std::string y = fresh(base + "/scaled");
    repl.push_back(make("Mul", {accf, sc}, y, fresh(base + "/Mul")));
    repl.push_back(make("Add", {y, n.input(2)}, n.output(0), fresh(base + "/bias")));
    return true;
  }

  onnx::GraphProto& g_;
  std::map<std::string, onnx::TensorProto*> init_;
  std::map<std::string, const onnx::NodeProto*> producer_;
  std::map<std::string, int> readers_;
  std::set<std::string> made_;
};

}  // namespace

int lower_dynamic_int8(onnx::GraphProto& graph) { return Lowering(graph).run(); }

}  // namespace mc::exporter
