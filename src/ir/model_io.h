// The .mcm serialisation (model_io.cpp) as bytes in memory, shared with the .mcz archive, which
// embeds it for the graph, the metadata and every tensor it does not encode itself.
#pragma once
#include <functional>
#include <string>

#include "ir/model.h"

namespace mc::ir::model_io {

using KeepTensor = std::function<bool(const std::string& tensor_name)>;

/// The .mcm file of `m` as bytes, holding only the tensors `keep` accepts (all when empty).
std::string mcm_bytes(const Model& m, const KeepTensor& keep);

/// Reads .mcm bytes held in memory with every check Model::load makes (zip directory, metadata
/// record, graph text, tensor CRC-32s; errors name `path`), but without shape inference and
/// verify(): the caller adds the tensors that are missing first.
Model read_mcm_bytes(const std::string& bytes, const std::string& path);

}  // namespace mc::ir::model_io
