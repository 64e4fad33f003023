// Sparse initializers: a conv2d / linear / matmul weight with many zeros (a pruned model) written as
// an ONNX SparseTensorProto in GraphProto.sparse_initializer instead of a dense TensorProto: the
// non-zero values [NNZ] in the weight's own type, their positions, and the dense dims. It applies
// to whatever form the export stores the weight in: the float32 weight, the integers of a QDQ
// weight (int8 / uint8 before its DequantizeLinear), and the uint8 indices of a codebook weight
// (export/codebook_weights.h, which puts the value 0 at entry 0 so that pruned weights are index 0;
// for 4-bit indices a packed byte is zero when both of its weights are).
//
// Layout (ONNX 1.12 checker, check_sparse_tensor): indices must be INT64, either [NNZ] linearized
// positions or [NNZ, rank] coordinates, strictly ascending. We write [NNZ] linearized in the
// tensor's int64_data field, which protobuf packs as varints: 1 byte per index below 2^7, 2 below
// 2^14, 3 below 2^21 (every weight of ResNet-8), 4 below 2^28, instead of 8 in raw_data. A non-zero
// float32 weight then costs 4 + 2..4 bytes against 4 per weight dense, so sparse pays below about
// 1/2..2/3 density; a non-zero int8 or codebook index byte costs 1 + 2..4 against 1 per byte,
// so below about 1/4..1/3. ONNX Runtime (1.30) reads int64_data and raw_data indices alike and
// turns sparse initializers into dense ones when it loads the file, so it computes exactly what
// the dense file computes (a -0.0 weight is written as absent and comes back as +0.0, equal in
// every product).
#pragma once
#include <ATen/core/Tensor.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "export/onnx_export.h"

namespace mc::exporter {

/// The SparseTensorProto of a dense float32 / int8 / uint8 initializer (raw_data), values named as
/// it; nothing for other types.
std::optional<onnx::SparseTensorProto> to_sparse(const onnx::TensorProto& dense);

/// Bytes `t` takes in the file as a dense initializer, and as a sparse one (field tag and length
/// prefix included; no name). For the size decisions of codebook_weights.cpp.
int64_t dense_field_bytes(const at::Tensor& t);
int64_t sparse_field_bytes(const at::Tensor& t);

struct SparseSummary {
  std::map<std::string, int64_t> dense_bytes;  // per initializer written sparse: its bytes as a dense one
  int64_t bytes_saved = 0;  // dense bytes of those minus their sparse bytes (negative: the file grew)
};

/// Moves the initializers named in `weights` into graph.sparse_initializer: under `automatic`
/// those whose sparse form takes fewer bytes, under `always` every one with at least one zero,
/// under `never` none.
SparseSummary sparsify_weights(onnx::GraphProto& graph, const std::set<std::string>& weights, SparseInitializers mode);

}  // namespace mc::exporter
