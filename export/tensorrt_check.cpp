#include "export/tensorrt_check.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "export/export_context.h"

namespace mc::exporter {

namespace {

const std::set<std::string>& passthrough_ops() {
  // Ops TensorRT moves Q/DQ across (they commute with per-tensor quantization).
  static const std::set<std::string> s = {"Identity", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                                          "MaxPool", "Slice", "Gather", "Pad"};
  return s;
}

int64_t numel(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims())
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();  // dims from any file
  return n;
}

// Input / output `i` of a node, "" when it has fewer: a file may hold any node (protobuf does not
// check the index in release builds).
const std::string& input_at(const onnx::NodeProto& n, int i) {
  static const std::string none;
  return i < n.input_size() ? n.input(i) : none;
}
const std::string& output_at(const onnx::NodeProto& n, int i) {
  static const std::string none;
  return i < n.output_size() ? n.output(i) : none;
}

// Names and ops come from the file as bytes; JSON needs UTF-8 (invalid bytes become U+FFFD).
std::string valid_utf8(const std::string& s) {
  return nlohmann::json::parse(nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}

std::vector<double> float_values(const onnx::TensorProto& t) {
  std::vector<double> v;
  if (t.data_type() != onnx::TensorProto_DataType_FLOAT) return v;
  if (!t.raw_data().empty()) {
    std::vector<float> f(t.raw_data().size() / sizeof(float));
    std::memcpy(f.data(), t.raw_data().data(), f.size() * sizeof(float));
    v.assign(f.begin(), f.end());
  } else {
    v.assign(t.float_data().begin(), t.float_data().end());
  }
  return v;
}

std::vector<int64_t> int_values(const onnx::TensorProto& t) {
  std::vector<int64_t> v;
  const std::string& raw = t.raw_data();
  switch (t.data_type()) {
    case onnx::TensorProto_DataType_INT8:
      if (!raw.empty())
        for (char c : raw) v.push_back(static_cast<int8_t>(c));
      else
        v.assign(t.int32_data().begin(), t.int32_data().end());
      break;
    case onnx::TensorProto_DataType_UINT8:
      if (!raw.empty())
        for (char c : raw) v.push_back(static_cast<uint8_t>(c));
      else
        v.assign(t.int32_data().begin(), t.int32_data().end());
      break;
    case kOnnxInt4:
    case kOnnxUint4:  // two per byte, element 2j in the low nibble (packed4_to_proto)
      for (int64_t i = 0; i < numel(t) && static_cast<size_t>(i / 2) < raw.size(); ++i) {
        const int nib = (static_cast<uint8_t>(raw[static_cast<size_t>(i / 2)]) >> (i % 2 ? 4 : 0)) & 0xF;
        v.push_back(t.data_type() == kOnnxInt4 && nib >= 8 ? nib - 16 : nib);
      }
      break;
    default:
      if (!raw.empty() && t.data_type() == onnx::TensorProto_DataType_INT32) {
        std::vector<int32_t> x(raw.size() / 4);
        std::memcpy(x.data(), raw.data(), x.size() * 4);
        v.assign(x.begin(), x.end());
      } else {
        v.assign(t.int32_data().begin(), t.int32_data().end());
      }
  }
  return v;
}

int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return dflt;
}

std::vector<int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return {};
}

std::string label(const onnx::NodeProto& n) { return n.name().empty() ? n.op_type() + "(" + output_at(n, 0) + ")" : n.name(); }

class Checker {
 public:
  explicit Checker(const onnx::GraphProto& g) : g_(g) {
    for (const auto& t : g.initializer()) inits_[t.name()] = &t;
    // A sparse initializer (a pruned weight) by its dense header: name, type and dims, no data.
    for (const auto& s : g.sparse_initializer()) {
      onnx::TensorProto& h = sparse_headers_.emplace_back();
      h.set_name(s.values().name());
      h.set_data_type(s.values().data_type());
      for (int64_t d : s.dims()) h.add_dims(d);
      inits_[h.name()] = &h;
    }
    for (const auto& n : g.node()) {
      for (const auto& o : n.output()) producer_[o] = &n;
      for (const auto& i : n.input()) consumers_[i].push_back(&n);
    }
  }

  TrtCheckResult run() {
    for (const auto& n : g_.node())
      if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear") check_qdq(n);
    for (const auto& n : g_.node()) {
      const std::string& op = n.op_type();
      if (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul") compute_node(n);
      else if (op == "Add" && n.input_size() == 2 && computed(n.input(0)) && computed(n.input(1))) residual_add(n);
    }
    return std::move(r_);
  }

 private:
  bool computed(const std::string& v) const { return !inits_.count(v) && !(producer_.count(v) && producer_.at(v)->op_type() == "Constant"); }

  void violate(const onnx::NodeProto& n, const std::string& rule, const std::string& msg) {
    r_.violations.push_back({label(n), rule, label(n) + ": " + msg});
    bad_[&n] = rule;
  }

  /// The initializer a weight Q/DQ quantizes (directly, or a DQ of a Q of it); nullptr for activations.
  const onnx::TensorProto* weight_of(const onnx::NodeProto& n) const {
    const std::string& x = n.input(0);
    if (inits_.count(x)) return inits_.at(x);
    if (n.op_type() == "DequantizeLinear" && producer_.count(x)) {
      const onnx::NodeProto* q = producer_.at(x);
      if (q->op_type() == "QuantizeLinear" && inits_.count(input_at(*q, 0))) return inits_.at(input_at(*q, 0));
    }
    return nullptr;
  }

  void check_qdq(const onnx::NodeProto& n) {
    const std::string what = n.op_type();
    if (n.input_size() < 2 || !inits_.count(n.input(1))) {
      violate(n, "qparams_constant", "the scale is not an initializer; TensorRT needs constant scales (export them as initializers)");
      return;
    }
    const onnx::TensorProto& scale = *inits_.at(n.input(1));
    std::vector<double> s = float_values(scale);
    for (double v : s)
      if (!(v > 0) || !std::isfinite(v)) {
        violate(n, "scale", "scale " + std::to_string(v) + " is not positive and finite; recalibrate this tensor");
        break;
      }
    if (n.input_size() < 3 || n.input(2).empty()) {
      violate(n, "int8", "no zero-point, which means uint8; TensorRT supports INT8 only (give an int8 zero-point of 0)");
    } else if (!inits_.count(n.input(2))) {
      violate(n, "qparams_constant", "the zero-point is not an initializer; TensorRT needs constant zero-points");
    } else {
      const onnx::TensorProto& zp = *inits_.at(n.input(2));
      const bool is4 = zp.data_type() == kOnnxInt4 || zp.data_type() == kOnnxUint4;
      if (is4) {
        check_int4(n, zp.data_type() == kOnnxInt4);
      } else if (zp.data_type() != onnx::TensorProto_DataType_INT8) {
        violate(n, "int8", "zero-point type is " + onnx::TensorProto_DataType_Name(zp.data_type()) +
                               "; TensorRT supports INT8 only (quantize to a signed grid, quant_min < 0)");
      }
      for (int64_t z : int_values(zp))
        if (z != 0) {
          violate(n, "symmetric", "zero-point " + std::to_string(z) +
                                      " is not 0; TensorRT supports symmetric quantization only (use a symmetric observer)");
          break;
        }
    }
    const bool per_channel = scale.dims_size() == 1 && numel(scale) > 1;
    if (!per_channel) return;
    const onnx::TensorProto* w = weight_of(n);
    if (!w) {
      violate(n, "per_channel_activation",
              "per-channel " + what + " on an activation; TensorRT quantizes activations per-tensor only");
      return;
    }
    if (what != "DequantizeLinear") return;  // the axis is checked on the DQ that feeds the consumer
    const int64_t rank = w->dims_size();
    int64_t axis = int_attr(n, "axis", 1);
    if (axis < 0) axis += rank;
    check_weight_axis(n, output_at(n, 0), axis, rank, 0);
  }

  /// INT4 / UINT4 Q/DQ (opset 21). TensorRT 10 takes INT4 as weight-only quantization of matrix
  /// multiplies: its IDequantizeLayer reads int8, fp8 or int4 (no uint4), with per-tensor,
  /// per-channel or (INT4 only) block scales; its convolutions take no INT4 weights.
  void check_int4(const onnx::NodeProto& n, bool is_signed) {
    if (!is_signed) {
      violate(n, "int4", "UINT4 zero-point; TensorRT's 4-bit integers are signed INT4 only (quantize weights to a "
                         "symmetric grid, quant_min < 0)");
      return;
    }
    if (n.op_type() != "DequantizeLinear" || !inits_.count(n.input(0))) {
      violate(n, "int4", "INT4 on an activation; TensorRT uses INT4 for weight-only quantization (export at opset "
                         "13..20 for INT8 activations)");
      return;
    }
    auto it = consumers_.find(output_at(n, 0));
    if (it == consumers_.end()) return;
    for (const onnx::NodeProto* c : it->second)
      if ((c->op_type() == "Conv" || c->op_type() == "ConvTranspose") && input_at(*c, 1) == output_at(n, 0)) {
        violate(n, "int4_conv", "INT4 weight of " + c->op_type() + " '" + label(*c) +
                                    "'; TensorRT runs INT4 weight-only quantization for MatMul / Gemm only (export "
                                    "at opset 13..20 to get INT8 weights in 8-bit containers)");
        return;
      }
  }

  /// Follows the dequantized weight `v` (through Transpose / Reshape / Identity) to its consumers and
  /// checks that `axis` is their output-channel axis.
  void check_weight_axis(const onnx::NodeProto& dq, const std::string& v, int64_t axis, int64_t rank, int depth) {
    auto it = consumers_.find(v);
    if (v.empty() || it == consumers_.end() || depth > 16) return;  // a file may hold cycles
    for (const onnx::NodeProto* c : it->second) {
      const std::string& op = c->op_type();
      if (op == "Transpose") {
        std::vector<int64_t> perm = ints_attr(*c, "perm");
        int64_t na = axis;
        for (size_t k = 0; k < perm.size(); ++k)
          if (perm[k] == axis) na = static_cast<int64_t>(k);
        if (perm.empty()) na = rank - 1 - axis;
        check_weight_axis(dq, output_at(*c, 0), na, rank, depth + 1);
        continue;
      }
      if (op == "Identity") {
        check_weight_axis(dq, output_at(*c, 0), axis, rank, depth + 1);
        continue;
      }
      int64_t want = -1;
      if (op == "Conv" && input_at(*c, 1) == v) want = 0;
      else if (op == "ConvTranspose" && input_at(*c, 1) == v) want = 1;
      else if (op == "Gemm" && input_at(*c, 1) == v) want = int_attr(*c, "transB", 0) ? 0 : 1;
      else if (op == "MatMul" && input_at(*c, 1) == v) want = rank - 1;
      if (want < 0 || want == axis) continue;
      violate(dq, "per_channel_axis",
              "per-channel axis " + std::to_string(axis) + " is not the output-channel axis " + std::to_string(want) +
                  " of " + op + " '" + label(*c) + "'; TensorRT needs per-channel weight scales along the output channels");
    }
  }

  /// The DequantizeLinear that `v` comes from, looking through ops TensorRT moves Q/DQ across.
  const onnx::NodeProto* dq_of(const std::string& v, int depth = 0) const {
    auto it = producer_.find(v);
    if (it == producer_.end() || depth > 16) return nullptr;
    const onnx::NodeProto* p = it->second;
    if (p->op_type() == "DequantizeLinear") return p;
    if (passthrough_ops().count(p->op_type()) && p->input_size() > 0) return dq_of(p->input(0), depth + 1);
    return nullptr;
  }

  /// Empty when input `i` of `n` is validly quantized, else why not.
  std::string input_problem(const onnx::NodeProto& n, int i, bool weight) const {
    const onnx::NodeProto* dq = dq_of(n.input(i));
    if (!dq) return "input " + std::to_string(i) + (weight ? " (weight)" : "") + " not quantized";
    auto b = bad_.find(dq);
    if (b != bad_.end()) return "input " + std::to_string(i) + "'s DequantizeLinear '" + label(*dq) + "' breaks rule " + b->second;
    // The Q that feeds an activation DQ must be valid too.
    auto q = producer_.find(input_at(*dq, 0));
    if (q != producer_.end()) {
      auto bq = bad_.find(q->second);
      if (bq != bad_.end()) return "input " + std::to_string(i) + "'s QuantizeLinear '" + label(*q->second) + "' breaks rule " + bq->second;
    }
    return "";
  }

  void verdict(const onnx::NodeProto& n, const std::vector<std::string>& problems) {
    TrtNodeVerdict v{label(n), n.op_type(), problems.empty(), ""};
    for (size_t k = 0; k < problems.size(); ++k) v.reason += (k ? "; " : "") + problems[k];
    if (!problems.empty()) v.reason += " -> " + n.op_type() + " runs in float";
    r_.nodes.push_back(std::move(v));
  }

  void compute_node(const onnx::NodeProto& n) {
    std::vector<std::string> problems;
    for (int i = 0; i < 2 && i < n.input_size(); ++i) {
      std::string p = input_problem(n, i, i == 1 && !computed_weight(n.input(1)));
      if (!p.empty()) problems.push_back(p);
    }
    verdict(n, problems);
  }

  // A weight: an initializer, or a chain of DQ / Transpose / Identity from one.
  bool computed_weight(const std::string& v) const {
    std::string cur = v;
    for (int d = 0; d < 8; ++d) {
      if (inits_.count(cur)) return false;
      auto it = producer_.find(cur);
      if (it == producer_.end()) return true;
      const std::string& op = it->second->op_type();
      if (op != "DequantizeLinear" && op != "Transpose" && op != "Identity" && op != "QuantizeLinear") return true;
      cur = input_at(*it->second, 0);
    }
    return true;
  }

  void residual_add(const onnx::NodeProto& n) {
    std::vector<std::string> problems;
    for (int i = 0; i < 2; ++i) {
      std::string p = input_problem(n, i, false);
      if (!p.empty()) problems.push_back(p);
    }
    verdict(n, problems);
  }

  const onnx::GraphProto& g_;
  std::map<std::string, const onnx::TensorProto*> inits_;
  std::deque<onnx::TensorProto> sparse_headers_;
  std::map<std::string, const onnx::NodeProto*> producer_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
  std::map<const onnx::NodeProto*, std::string> bad_;  // Q/DQ node -> first broken rule
  TrtCheckResult r_;
};

}  // namespace

int TrtCheckResult::int8_nodes() const {
  int k = 0;
  for (const auto& n : nodes) k += n.int8 ? 1 : 0;
  return k;
}

int TrtCheckResult::float_nodes() const { return static_cast<int>(nodes.size()) - int8_nodes(); }

std::string TrtCheckResult::table() const {
  size_t w = 4;
  for (const auto& n : nodes) w = std::max(w, n.node.size());
  std::ostringstream os;
  os << std::left;
  os.width(static_cast<std::streamsize>(w + 2));
  os << "node";
  os << "op             precision  reason\n";
  for (const auto& n : nodes) {
    os.width(static_cast<std::streamsize>(w + 2));
    os << n.node;
    os.width(15);
    os << n.op;
    os.width(11);
    os << (n.int8 ? "INT8" : "float");
    os << n.reason << "\n";
  }
  os << int8_nodes() << " of " << nodes.size() << " compute nodes in INT8, " << float_nodes() << " in float; "
     << violations.size() << " rule violation(s)\n";
  for (const auto& v : violations) os << "  [" << v.rule << "] " << v.message << "\n";
  return os.str();
}

nlohmann::json TrtCheckResult::to_json() const {
  nlohmann::json j;
  j["int8_nodes"] = int8_nodes();
  j["float_nodes"] = float_nodes();
  j["ok"] = ok();
  j["nodes"] = nlohmann::json::array();
  for (const auto& n : nodes)
    j["nodes"].push_back({{"node", valid_utf8(n.node)},
                          {"op", valid_utf8(n.op)},
                          {"precision", n.int8 ? "int8" : "float"},
                          {"reason", valid_utf8(n.reason)}});
  j["violations"] = nlohmann::json::array();
  for (const auto& v : violations)
    j["violations"].push_back({{"node", valid_utf8(v.node)}, {"rule", v.rule}, {"message", valid_utf8(v.message)}});
  return j;
}

TrtCheckResult check_tensorrt(const onnx::ModelProto& model) { return Checker(model.graph()).run(); }

TrtCheckResult check_tensorrt_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw InputError("'" + path + "' does not exist or is not a file (give an exported .onnx model)");
  onnx::ModelProto mp;
  std::ifstream in(path, std::ios::binary);
  if (!in || !mp.ParseFromIstream(&in) || mp.graph().node_size() == 0)
    throw InputError("'" + path + "' is not an ONNX model (cannot parse it as onnx.ModelProto)");
  return check_tensorrt(mp);
}

}  // namespace mc::exporter
