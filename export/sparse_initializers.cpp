#include "export/sparse_initializers.h"

#include <ATen/ATen.h>

#include <cstring>
#include <vector>

#include "export/export_context.h"

namespace mc::exporter {

namespace {

/// Element size of the types written sparse (0: not written sparse).
size_t element_size(int32_t type) {
  switch (type) {
    case onnx::TensorProto_DataType_FLOAT: return 4;
    case onnx::TensorProto_DataType_INT8:
    case onnx::TensorProto_DataType_UINT8: return 1;
    default: return 0;
  }
}

bool is_zero(const char* p, size_t size) {
  if (size == 4) {
    float f;
    std::memcpy(&f, p, 4);
    return f == 0.0f;  // -0.0 too
  }
  return *p == 0;
}

int64_t zeros(const onnx::TensorProto& t) {
  const size_t size = element_size(t.data_type());
  const std::string& raw = t.raw_data();
  int64_t z = 0;
  for (size_t off = 0; off + size <= raw.size(); off += size) z += is_zero(raw.data() + off, size);
  return z;
}

}  // namespace

std::optional<onnx::SparseTensorProto> to_sparse(const onnx::TensorProto& dense) {
  const size_t size = element_size(dense.data_type());
  if (size == 0 || dense.dims_size() == 0 || !dense.has_raw_data()) return std::nullopt;
  const std::string& raw = dense.raw_data();
  onnx::SparseTensorProto s;
  for (int64_t d : dense.dims()) s.add_dims(d);
  onnx::TensorProto* values = s.mutable_values();
  values->set_name(dense.name());
  values->set_data_type(dense.data_type());
  onnx::TensorProto* indices = s.mutable_indices();
  indices->set_data_type(onnx::TensorProto_DataType_INT64);
  std::string nonzero;
  for (size_t off = 0, i = 0; off + size <= raw.size(); off += size, ++i) {
    if (is_zero(raw.data() + off, size)) continue;
    nonzero.append(raw.data() + off, size);
    indices->add_int64_data(static_cast<int64_t>(i));  // packed varints (see the header)
  }
  const auto nnz = static_cast<int64_t>(nonzero.size() / size);
  values->add_dims(nnz);
  values->set_raw_data(std::move(nonzero));
  indices->add_dims(nnz);
  return s;
}

int64_t dense_field_bytes(const at::Tensor& t) {
  onnx::TensorProto p;
  tensor_to_proto(t, "", p);
  return field_bytes(p.ByteSizeLong());
}

int64_t sparse_field_bytes(const at::Tensor& t) {
  onnx::TensorProto p;
  tensor_to_proto(t, "", p);
  std::optional<onnx::SparseTensorProto> s = to_sparse(p);
  return s ? field_bytes(s->ByteSizeLong()) : field_bytes(p.ByteSizeLong());
}

SparseSummary sparsify_weights(onnx::GraphProto& graph, const std::set<std::string>& weights, SparseInitializers mode) {
  SparseSummary sum;
  if (mode == SparseInitializers::never) return sum;
  auto* inits = graph.mutable_initializer();
  std::vector<onnx::SparseTensorProto> moved;
  for (int i = inits->size() - 1; i >= 0; --i) {
    const onnx::TensorProto& t = inits->Get(i);
    if (!weights.count(t.name()) || zeros(t) == 0) continue;
    std::optional<onnx::SparseTensorProto> s = to_sparse(t);
    if (!s) continue;
    const int64_t dense = field_bytes(t.ByteSizeLong()), sparse = field_bytes(s->ByteSizeLong());
    if (mode == SparseInitializers::automatic && sparse >= dense) continue;
    sum.bytes_saved += dense - sparse;
    sum.dense_bytes[t.name()] = dense;
    moved.push_back(std::move(*s));
    inits->DeleteSubrange(i, 1);
  }
  for (auto it = moved.rbegin(); it != moved.rend(); ++it) *graph.add_sparse_initializer() = std::move(*it);
  return sum;
}

}  // namespace mc::exporter
