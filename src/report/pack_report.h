// What a .mcz archive holds, per layer and in total, as a table (`compress pack`) and as JSON (the
// `save` stage's report details for a .mcz path).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "ir/mcz/archive.h"

namespace mc::report {

/// {"path", "file_bytes", "fp32_bytes", "ratio", "base_bytes", "layers": [{layer, tensor, encoding,
/// weights, nonzeros, distinct, index_bits, position_bits, codebook_bits, huffman_gain, bytes, ratio}]}
nlohmann::json pack_json(const ir::mcz::PackResult& r, const std::string& path);

/// The per-layer table and the totals, one line each, ending with a newline.
std::string pack_table(const ir::mcz::PackResult& r, const std::string& path);

}  // namespace mc::report
