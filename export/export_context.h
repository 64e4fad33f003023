// ExportContext: what a per-op ONNX mapping sees while the exporter walks the IR graph.
// It hands out ONNX value names for IR values, emits ONNX nodes (named after the IR node's
// scope) and adds initializers (store tensors and small constants such as Reshape shapes).
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "export/onnx_export.h"
#include "ir/model.h"

namespace mc::exporter {

/// Typed attribute values for ExportContext::node().
struct OnnxAttr {
  enum class Kind { i, f, s, ints, floats };
  std::string name;
  Kind kind = Kind::i;
  int64_t i = 0;
  float f = 0.0f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;

  static OnnxAttr Int(std::string n, int64_t v);
  static OnnxAttr Float(std::string n, double v);
  static OnnxAttr Str(std::string n, std::string v);
  static OnnxAttr Ints(std::string n, std::vector<int64_t> v);
  static OnnxAttr Floats(std::string n, std::vector<float> v);
};

/// A weight the export wrote in a smaller form than its float32 initializer (codebook + indices,
/// QDQ integers): the tensors and decoding nodes that replace it, for ExportSummary::fp32_bytes.
struct StoredWeight {
  std::string tensor;                     // store name of the float32 weight
  std::vector<std::string> initializers;  // initializers holding it instead
  std::vector<std::string> node_outputs;  // outputs of the nodes that decode it
  bool codebook = false;                  // else QDQ integers
  bool packed4 = false;                   // QDQ integers stored as INT4 / UINT4 (two per byte)
  bool grid4 = false;                     // QDQ integers on a grid that fits INT4 or UINT4
};

class ExportContext {
 public:
  ExportContext(const ir::Model& model, onnx::GraphProto& graph, int opset,
                CodebookWeights codebook = CodebookWeights::never,
                SparseInitializers sparse = SparseInitializers::never);

  int opset() const { return opset_; }
  CodebookWeights codebook_weights() const { return codebook_; }
  SparseInitializers sparse_initializers() const { return sparse_; }
  /// Initializers that hold a conv / linear / matmul weight in any form (float32, QDQ integers,
  /// codebook indices): the ones export/sparse_initializers.h may write sparse.
  std::set<std::string>& weight_initializers() { return weight_inits_; }
  /// Weights stored in a smaller form (codebook_weights.cpp, ops/quant.cpp).
  std::vector<StoredWeight>& stored_weights() { return stored_; }
  /// ONNX names of weights already written in another form, by store tensor name (each is written once).
  std::map<std::string, std::string>& weight_forms() { return weight_forms_; }
  const ir::Model& model() const { return model_; }

  /// ONNX name of input `i` of `n` (empty string for an absent optional input).
  std::string in(const ir::Node& n, size_t i);
  /// ONNX name of `v` (it must have been produced already).
  std::string name_of(const ir::Value* v) const;
  /// ONNX name for output `i` of `n` (allocated on first call).
  std::string out(const ir::Node& n, size_t i = 0);
  /// A fresh name for an intermediate value of the node being exported.
  std::string tmp(const std::string& hint);

  /// Emits an ONNX node for the IR node being exported; returns it (valid until the next node()).
  onnx::NodeProto& node(const std::string& op_type, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::vector<OnnxAttr>& attrs = {});
  /// Shorthand: one-output node with a fresh output name; returns that name.
  std::string op1(const std::string& op_type, const std::vector<std::string>& inputs,
                  const std::vector<OnnxAttr>& attrs = {});

  /// Number of ONNX nodes emitted so far, and the first outputs of those emitted since `first`.
  int node_count() const { return graph_.node_size(); }
  std::vector<std::string> node_outputs_since(int first) const;

  /// Makes output `i` of `n` the same ONNX value as `src` (no node), unless it is a graph output.
  void alias(const ir::Node& n, size_t i, const std::string& src);

  /// Initializers for small constants (deduplicated by content).
  std::string const_i64(const std::vector<int64_t>& v, const std::string& hint);
  /// 0-d scalar of the given dtype (float types and i64).
  std::string scalar(double v, ir::DType dtype, const std::string& hint);
  /// Initializer holding `t` (any dtype; 0-d stays 0-d) under a fresh name derived from `hint`.
  std::string add_tensor(const at::Tensor& t, const std::string& hint);
  /// Initializer holding the integers `q` (values in [-8, 7] when `is_signed`, else [0, 15]) as an
  /// INT4 / UINT4 tensor (opset >= 21), packed by packed4_to_proto.
  std::string add_packed4(const at::Tensor& q, bool is_signed, const std::string& hint);

  /// Static shape and dtype of input `i` of `n` (from the IR).
  const ir::Shape& in_shape(const ir::Node& n, size_t i = 0) const;
  ir::DType in_dtype(const ir::Node& n, size_t i = 0) const;
  int64_t in_rank(const ir::Node& n, size_t i = 0) const;

  /// Normalises `dim` against `rank` (negative counts from the end); InputError naming the node.
  int64_t wrap_dim(int64_t dim, int64_t rank) const;

  // --- used by the exporter driver ---
  void begin(const ir::Node& n);
  /// Names the nodes emitted for the current IR node after its scope (made unique).
  void end();
  void bind(const ir::Value* v, const std::string& onnx_name);
  /// Reserves `desired` for `v` (used for graph outputs).
  void preassign(const ir::Value* v, const std::string& desired) { preassigned_[v] = desired; }
  std::string unique(const std::string& base);
  const ir::Node* current() const { return current_; }

 private:
  const ir::Model& model_;
  onnx::GraphProto& graph_;
  int opset_;
  CodebookWeights codebook_;
  SparseInitializers sparse_;
  std::set<std::string> weight_inits_;
  std::vector<StoredWeight> stored_;
  std::map<std::string, std::string> weight_forms_;
  std::map<const ir::Value*, std::string> names_;
  std::map<const ir::Value*, std::string> preassigned_;
  std::set<std::string> used_;
  std::set<std::string> node_names_;
  std::map<std::string, std::string> const_cache_;
  const ir::Node* current_ = nullptr;
  int first_new_node_ = 0;
};

/// ONNX element type of an IR dtype.
int32_t onnx_dtype(ir::DType d);
/// Bytes a message of `len` bytes takes as a length-delimited field (tag < 16: one byte).
int64_t field_bytes(size_t len);
/// Fills `proto` from `t` (CPU, contiguous copy; little-endian raw data).
void tensor_to_proto(const at::Tensor& t, const std::string& name, onnx::TensorProto& proto);

/// TensorProto.data_type of ONNX's 4-bit integers (IR version 10, opset 21). The ONNX library
/// built in here (1.12) predates them: its DataType enum lacks the values, but the field is a plain
/// int32 and accepts them.
constexpr int32_t kOnnxUint4 = 21;
constexpr int32_t kOnnxInt4 = 22;
/// Fills `proto` with the integers `q` (any integer or float dtype holding whole numbers in [-8, 7]
/// when `is_signed`, else [0, 15]; InputError otherwise) as INT4 / UINT4, as the ONNX IR spec packs
/// them into raw_data: two per byte in row-major order, element 2j in the low nibble (bits 0-3),
/// element 2j+1 in the high nibble, an odd count's last high nibble 0. Signed values are stored
/// as their 4-bit two's complement.
void packed4_to_proto(const at::Tensor& q, bool is_signed, const std::string& name, onnx::TensorProto& proto);

}  // namespace mc::exporter
