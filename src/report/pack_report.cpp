#include "report/pack_report.h"

#include <fmt/format.h>

namespace mc::report {

nlohmann::json pack_json(const ir::mcz::PackResult& r, const std::string& path) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : r.layers)
    layers.push_back({{"layer", l.layer},
                      {"tensor", l.tensor},
                      {"encoding", l.encoding},
                      {"weights", l.weights},
                      {"nonzeros", l.nonzeros},
                      {"distinct", l.distinct},
                      {"negative_zeros", l.negative_zeros},
                      {"index_bits", l.index_bits},
                      {"position_bits", l.position_bits},
                      {"codebook_bits", l.codebook_bits},
                      {"huffman_gain", l.huffman_gain()},
                      {"bytes", l.bytes},
                      {"ratio", l.ratio()}});
  return {{"path", path},         {"format", "mcz"},           {"file_bytes", r.file_bytes},
          {"fp32_bytes", r.fp32_bytes}, {"ratio", r.ratio()}, {"base_bytes", r.base_bytes},
          {"base_raw_bytes", r.base_raw_bytes},
          {"layers", layers}};
}

std::string pack_table(const ir::mcz::PackResult& r, const std::string& path) {
  size_t w = 5;
  for (const auto& l : r.layers) w = std::max(w, l.layer.size());
  std::string out = fmt::format("{:<{}}  {:<8}  {:>9}  {:>9}  {:>8}  {:>5}  {:>8}  {:>9}  {:>7}  {:>9}  {:>7}\n", "layer", w,
                                "encoding", "weights", "non-zeros", "distinct", "index", "position", "codebook",
                                "huffman", "bytes", "ratio");
  out += fmt::format("{:<{}}  {:<8}  {:>9}  {:>9}  {:>8}  {:>5}  {:>8}  {:>9}  {:>7}  {:>9}  {:>7}\n", "", w, "", "", "",
                     "", "bits", "bits", "bits", "gain", "", "to fp32");
  for (const auto& l : r.layers) {
    bool dense = l.encoding == "dense";
    out += fmt::format("{:<{}}  {:<8}  {:>9}  {:>9}  {:>8}  {:>5}  {:>8}  {:>9}  {:>7}  {:>9}  {:>7}\n", l.layer, w,
                       l.encoding, l.weights, l.nonzeros, l.distinct, l.index_bits ? std::to_string(l.index_bits) : "-",
                       dense ? "-" : std::to_string(l.position_bits), l.codebook_bits ? std::to_string(l.codebook_bits) : "-",
                       dense ? "-" : fmt::format("{:.2f}x", l.huffman_gain()), l.bytes, fmt::format("{:.1f}x", l.ratio()));
  }
  out += fmt::format("\nbase section (graph, metadata, biases, BatchNorm and the weights kept dense, as in .mcm): {} bytes "
                     "({} before deflate)\n", r.base_bytes, r.base_raw_bytes);
  out += fmt::format("{}: {} bytes on disk; the model's tensors at fp32: {} bytes; ratio {:.2f}x\n", path, r.file_bytes,
                     r.fp32_bytes, r.ratio());
  return out;
}

}  // namespace mc::report
