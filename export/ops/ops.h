// ONNX mappings, one op family per file (the families of src/ir/ops/).
#pragma once
#include "export/op_mapping.h"

namespace mc::exporter::ops {

void register_conv(ExportRegistry& r);         // conv2d, pad
void register_linear(ExportRegistry& r);       // linear, matmul, embedding
void register_norm(ExportRegistry& r);         // batch_norm, layer_norm
void register_activation(ExportRegistry& r);   // relu, hardtanh, ..., softmax, identity/dropout
void register_elementwise(ExportRegistry& r);  // add, sub, mul, div
void register_shape(ExportRegistry& r);        // cat, flatten, reshape, permute, transpose, split, (un)squeeze
void register_pool(ExportRegistry& r);         // max/avg/adaptive pools, mean
void register_quant(ExportRegistry& r);        // fake_quant -> QuantizeLinear/DequantizeLinear
void register_shared_weight(ExportRegistry& r);  // shared_weight -> in-graph index + Gather (* sign)
void register_cast(ExportRegistry& r);         // cast -> Cast

/// InputError "<node>: <what>" for attributes the mapping cannot express.
[[noreturn]] void unsupported(const ir::Node& n, const std::string& what);

/// A 2-element attribute (a single value is repeated), as the IR's conv/pool ops read them.
std::vector<int64_t> pair_attr(const ir::Node& n, const std::string& key, std::vector<int64_t> dflt);

}  // namespace mc::exporter::ops
