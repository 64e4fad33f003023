#include "export/export_context.h"

#include <ATen/ATen.h>
#include <google/protobuf/io/coded_stream.h>

#include <cstring>
#include <sstream>

#include "common/error.h"

namespace mc::exporter {

OnnxAttr OnnxAttr::Int(std::string n, int64_t v) {
  OnnxAttr a;
  a.name = std::move(n);
  a.kind = Kind::i;
  a.i = v;
  return a;
}
OnnxAttr OnnxAttr::Float(std::string n, double v) {
  OnnxAttr a;
  a.name = std::move(n);
  a.kind = Kind::f;
  a.f = static_cast<float>(v);
  return a;
}
OnnxAttr OnnxAttr::Str(std::string n, std::string v) {
  OnnxAttr a;
  a.name = std::move(n);
  a.kind = Kind::s;
  a.s = std::move(v);
  return a;
}
OnnxAttr OnnxAttr::Ints(std::string n, std::vector<int64_t> v) {
  OnnxAttr a;
  a.name = std::move(n);
  a.kind = Kind::ints;
  a.ints = std::move(v);
  return a;
}
OnnxAttr OnnxAttr::Floats(std::string n, std::vector<float> v) {
  OnnxAttr a;
  a.name = std::move(n);
  a.kind = Kind::floats;
  a.floats = std::move(v);
  return a;
}

int32_t onnx_dtype(ir::DType d) {
  switch (d) {
    case ir::DType::f32: return onnx::TensorProto_DataType_FLOAT;
    case ir::DType::f16: return onnx::TensorProto_DataType_FLOAT16;
    case ir::DType::f64: return onnx::TensorProto_DataType_DOUBLE;
    case ir::DType::i64: return onnx::TensorProto_DataType_INT64;
    case ir::DType::i32: return onnx::TensorProto_DataType_INT32;
    case ir::DType::i8: return onnx::TensorProto_DataType_INT8;
    case ir::DType::u8: return onnx::TensorProto_DataType_UINT8;
    case ir::DType::boolean: return onnx::TensorProto_DataType_BOOL;
  }
  return onnx::TensorProto_DataType_UNDEFINED;
}

namespace {
int32_t onnx_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return onnx::TensorProto_DataType_FLOAT;
    case at::kHalf: return onnx::TensorProto_DataType_FLOAT16;
    case at::kBFloat16: return onnx::TensorProto_DataType_BFLOAT16;
    case at::kDouble: return onnx::TensorProto_DataType_DOUBLE;
    case at::kLong: return onnx::TensorProto_DataType_INT64;
    case at::kInt: return onnx::TensorProto_DataType_INT32;
    case at::kShort: return onnx::TensorProto_DataType_INT16;
    case at::kChar: return onnx::TensorProto_DataType_INT8;
    case at::kByte: return onnx::TensorProto_DataType_UINT8;
    case at::kBool: return onnx::TensorProto_DataType_BOOL;
    default: throw Error(std::string("tensor dtype ") + c10::toString(t) + " has no ONNX equivalent");
  }
}

at::ScalarType scalar_type(ir::DType d) {
  switch (d) {
    case ir::DType::f32: return at::kFloat;
    case ir::DType::f16: return at::kHalf;
    case ir::DType::f64: return at::kDouble;
    case ir::DType::i64: return at::kLong;
    case ir::DType::i32: return at::kInt;
    case ir::DType::i8: return at::kChar;
    case ir::DType::u8: return at::kByte;
    case ir::DType::boolean: return at::kBool;
  }
  return at::kFloat;
}
}  // namespace

int64_t field_bytes(size_t len) {
  return 1 + static_cast<int64_t>(google::protobuf::io::CodedOutputStream::VarintSize64(len)) + static_cast<int64_t>(len);
}

void tensor_to_proto(const at::Tensor& t, const std::string& name, onnx::TensorProto& proto) {
  at::Tensor c = t.detach().to(at::kCPU).contiguous();
  proto.set_name(name);
  proto.set_data_type(onnx_dtype(c.scalar_type()));
  for (int64_t d : c.sizes()) proto.add_dims(d);
  // ONNX raw_data is little-endian; so is every machine LibTorch runs on here.
  proto.set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}

void packed4_to_proto(const at::Tensor& q, bool is_signed, const std::string& name, onnx::TensorProto& proto) {
  at::Tensor v = q.detach().to(at::kCPU).to(at::kLong).contiguous();
  const int64_t lo = is_signed ? -8 : 0, hi = is_signed ? 7 : 15;
  if (v.numel() > 0 && (v.min().item<int64_t>() < lo || v.max().item<int64_t>() > hi))
    throw InputError("tensor '" + name + "' has values outside [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "]; it cannot be stored as " + (is_signed ? "INT4" : "UINT4"));
  proto.set_name(name);
  proto.set_data_type(is_signed ? kOnnxInt4 : kOnnxUint4);
  for (int64_t d : v.sizes()) proto.add_dims(d);
  const int64_t n = v.numel();
  const int64_t* p = v.data_ptr<int64_t>();
  std::string raw(static_cast<size_t>((n + 1) / 2), '\0');
  for (int64_t i = 0; i < n; ++i) {
    const auto nibble = static_cast<unsigned char>(p[i] & 0xF);  // two's complement low 4 bits
    raw[static_cast<size_t>(i / 2)] = static_cast<char>(static_cast<unsigned char>(raw[static_cast<size_t>(i / 2)]) |
                                                        (i % 2 == 0 ? nibble : static_cast<unsigned char>(nibble << 4)));
  }
  proto.set_raw_data(raw);
}

ExportContext::ExportContext(const ir::Model& model, onnx::GraphProto& graph, int opset, CodebookWeights codebook,
                             SparseInitializers sparse)
    : model_(model), graph_(graph), opset_(opset), codebook_(codebook), sparse_(sparse) {}

std::string ExportContext::unique(const std::string& base) {
  std::string b = base.empty() ? std::string("v") : base;
  if (used_.insert(b).second) return b;
  for (int i = 1;; ++i) {
    std::string c = b + "_" + std::to_string(i);
    if (used_.insert(c).second) return c;
  }
}

void ExportContext::bind(const ir::Value* v, const std::string& onnx_name) { names_[v] = onnx_name; }

std::string ExportContext::name_of(const ir::Value* v) const {
  auto it = names_.find(v);
  if (it == names_.end()) throw Error("internal: ONNX export reached value '" + v->name() + "' before its producer");
  return it->second;
}

std::string ExportContext::in(const ir::Node& n, size_t i) {
  if (i >= n.inputs().size()) return "";
  return name_of(n.input(i));
}

std::string ExportContext::out(const ir::Node& n, size_t i) {
  const ir::Value* v = n.output(i);
  auto it = names_.find(v);
  if (it != names_.end()) return it->second;
  auto p = preassigned_.find(v);
  std::string name = p != preassigned_.end() ? p->second : unique(v->name());
  names_[v] = name;
  return name;
}

std::string ExportContext::tmp(const std::string& hint) {
  std::string base = current_ ? (current_->scope().empty() ? current_->op() : current_->scope()) : std::string("tmp");
  return unique(base + "/" + hint);
}

onnx::NodeProto& ExportContext::node(const std::string& op_type, const std::vector<std::string>& inputs,
                                     const std::vector<std::string>& outputs, const std::vector<OnnxAttr>& attrs) {
  onnx::NodeProto* p = graph_.add_node();
  p->set_op_type(op_type);
  for (auto& s : inputs) p->add_input(s);
  for (auto& s : outputs) p->add_output(s);
  for (auto& a : attrs) {
    onnx::AttributeProto* ap = p->add_attribute();
    ap->set_name(a.name);
    switch (a.kind) {
      case OnnxAttr::Kind::i:
        ap->set_type(onnx::AttributeProto_AttributeType_INT);
        ap->set_i(a.i);
        break;
      case OnnxAttr::Kind::f:
        ap->set_type(onnx::AttributeProto_AttributeType_FLOAT);
        ap->set_f(a.f);
        break;
      case OnnxAttr::Kind::s:
        ap->set_type(onnx::AttributeProto_AttributeType_STRING);
        ap->set_s(a.s);
        break;
      case OnnxAttr::Kind::ints:
        ap->set_type(onnx::AttributeProto_AttributeType_INTS);
        for (int64_t v : a.ints) ap->add_ints(v);
        break;
      case OnnxAttr::Kind::floats:
        ap->set_type(onnx::AttributeProto_AttributeType_FLOATS);
        for (float v : a.floats) ap->add_floats(v);
        break;
    }
  }
  return *p;
}

std::string ExportContext::op1(const std::string& op_type, const std::vector<std::string>& inputs,
                               const std::vector<OnnxAttr>& attrs) {
  std::string o = tmp(op_type);
  node(op_type, inputs, {o}, attrs);
  return o;
}

std::vector<std::string> ExportContext::node_outputs_since(int first) const {
  std::vector<std::string> outs;
  for (int k = first; k < graph_.node_size(); ++k)
    if (graph_.node(k).output_size() > 0) outs.push_back(graph_.node(k).output(0));
  return outs;
}

void ExportContext::alias(const ir::Node& n, size_t i, const std::string& src) {
  const ir::Value* v = n.output(i);
  if (preassigned_.count(v) || names_.count(v)) {
    node("Identity", {src}, {out(n, i)});
    return;
  }
  names_[v] = src;
}

std::string ExportContext::add_tensor(const at::Tensor& t, const std::string& hint) {
  std::string name = unique(hint);
  tensor_to_proto(t, name, *graph_.add_initializer());
  return name;
}

std::string ExportContext::add_packed4(const at::Tensor& q, bool is_signed, const std::string& hint) {
  std::string name = unique(hint);
  packed4_to_proto(q, is_signed, name, *graph_.add_initializer());
  return name;
}

std::string ExportContext::const_i64(const std::vector<int64_t>& v, const std::string& hint) {
  std::ostringstream key;
  key << "i64[";
  for (int64_t x : v) key << x << ",";
  auto it = const_cache_.find(key.str());
  if (it != const_cache_.end()) return it->second;
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::kLong);
  if (!v.empty()) std::memcpy(t.data_ptr<int64_t>(), v.data(), v.size() * sizeof(int64_t));
  std::string base = current_ ? (current_->scope().empty() ? current_->op() : current_->scope()) : std::string("const");
  std::string name = add_tensor(t, base + "/" + hint);
  const_cache_[key.str()] = name;
  return name;
}

std::string ExportContext::scalar(double v, ir::DType dtype, const std::string& hint) {
  std::ostringstream key;
  key.precision(17);
  key << "scalar:" << ir::dtype_name(dtype) << ":" << v;
  auto it = const_cache_.find(key.str());
  if (it != const_cache_.end()) return it->second;
  at::Tensor t = at::scalar_tensor(v, at::TensorOptions().dtype(scalar_type(dtype)));
  std::string base = current_ ? (current_->scope().empty() ? current_->op() : current_->scope()) : std::string("const");
  std::string name = add_tensor(t, base + "/" + hint);
  const_cache_[key.str()] = name;
  return name;
}

const ir::Shape& ExportContext::in_shape(const ir::Node& n, size_t i) const {
  const ir::Value* v = n.input(i);
  if (!v->type().has_shape) throw Error("internal: shape of '" + v->name() + "' unknown while exporting " + n.describe());
  return v->shape();
}

ir::DType ExportContext::in_dtype(const ir::Node& n, size_t i) const { return n.input(i)->type().dtype; }

int64_t ExportContext::in_rank(const ir::Node& n, size_t i) const { return static_cast<int64_t>(in_shape(n, i).size()); }

int64_t ExportContext::wrap_dim(int64_t dim, int64_t rank) const {
  int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw InputError((current_ ? current_->describe() + ": " : std::string()) + "dim " + std::to_string(dim) +
                     " out of range for rank " + std::to_string(rank));
  return d;
}

void ExportContext::begin(const ir::Node& n) {
  current_ = &n;
  first_new_node_ = graph_.node_size();
}

void ExportContext::end() {
  const ir::Node& n = *current_;
  std::string base = n.scope().empty() ? n.op() : n.scope();
  int count = graph_.node_size() - first_new_node_;
  for (int k = first_new_node_; k < graph_.node_size(); ++k) {
    onnx::NodeProto* p = graph_.mutable_node(k);
    std::string want = count == 1 ? base : base + "/" + p->op_type();
    std::string name = want;
    for (int i = 1; !node_names_.insert(name).second; ++i) name = want + "_" + std::to_string(i);
    p->set_name(name);
  }
  current_ = nullptr;
}

}  // namespace mc::exporter
