// Core op families. Each file registers one family; see docs/ir.md for the op catalogue
// (inputs, attributes, semantics). Helpers shared by the families live here too.
#pragma once
#include <ATen/ATen.h>

#include "ir/op_registry.h"

namespace mc::ir::ops {

void register_source_ops(OpRegistry& r);      // param, constant
void register_conv_ops(OpRegistry& r);        // conv2d, pad
void register_linear_ops(OpRegistry& r);      // linear, matmul, embedding
void register_norm_ops(OpRegistry& r);        // batch_norm, layer_norm
void register_activation_ops(OpRegistry& r);  // relu, hardtanh, sigmoid, ..., softmax, dropout
void register_elementwise_ops(OpRegistry& r); // add, sub, mul, div, eq, where
void register_shape_ops(OpRegistry& r);       // cat, flatten, reshape, permute, transpose, split, ...
void register_pool_ops(OpRegistry& r);        // max/avg/adaptive pools, mean
void register_quant_ops(OpRegistry& r);       // fake_quant
void register_shared_weight_ops(OpRegistry& r);  // shared_weight (hashed / circulant)
void register_cast_ops(OpRegistry& r);        // cast

at::ScalarType to_scalar_type(DType d);
DType from_scalar_type(at::ScalarType t);
TensorType type_of(const at::Tensor& t);

/// Shape inference by running the op's own kernel on meta tensors (no data, no compute).
std::vector<TensorType> meta_shapes(const Node& n, const std::vector<TensorType>& in, const KernelFn& kernel);
/// Output type equal to input 0's.
std::vector<TensorType> same_as_input(const Node&, const std::vector<TensorType>& in);

/// Normalises a possibly negative dim against `rank`; throws mc::Error when out of range.
int64_t wrap_dim(int64_t dim, int64_t rank, const Node& n);

/// One registration: unary elementwise op `name` with `fn`.
void add_unary(OpRegistry& r, const std::string& name, std::function<at::Tensor(const at::Tensor&, const Node&, const KernelContext&)> fn,
               std::vector<std::string> optional_attrs = {}, std::string doc = "");

}  // namespace mc::ir::ops
