// The compressed archive `.mcz` (Deep Compression's storage format, Han et al. 2016): the weights
// of conv/linear/matmul layers as relative-index positions plus codebook indices or fp32 values
// (weight_codec.h), everything else exactly as in .mcm (the .mcm records embedded, deflated).
// Layout (little-endian):
//   header   8-byte magic "\x89MCZ\r\n\x1a\n", u32 format version, u32 section count,
//            u32 CRC-32 of those 16 bytes
//   section  u8 kind (1 base, 2 weight), u16 name length, name, u64 payload length, payload,
//            u32 CRC-32 of everything from the kind to the payload's end
// The first section is the base: u64 length + zlib stream of the .mcm bytes of the model without
// the encoded weights (model_io.h; mostly IR text and zip headers, which deflate well), deflated
// with a preset dictionary of that text since format version 2 (base_dictionary.h), then one
// weight section per encoded tensor, named by the tensor. Errors are InputErrors naming the
// file and the section or tensor; nothing is sized from a length that was not checked against the
// bytes that are left.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/mcz/weight_codec.h"
#include "ir/model.h"

namespace mc::ir::mcz {

// 2: the base section deflated with the preset dictionary (version 1 archives still read).
constexpr uint32_t kFormatVersion = 2;

struct PackOptions {
  // Relative-index bits. Han et al. use 8 (conv) and 5 (fc); 8 for both was the smallest or within
  // 0.2 % of it on every archive measured (docs/architecture.md, .mcz): with Huffman coding the wide
  // gaps cost about their entropy, and fewer bits need filler entries at 90 %+ sparsity.
  int conv_position_bits = 8;  // conv weights
  int fc_position_bits = 8;    // linear / matmul weights
};

struct PackResult {
  std::vector<WeightStats> layers;  // every conv/linear/matmul weight, in graph order
  uint64_t file_bytes = 0;          // the archive's size on disk
  uint64_t base_bytes = 0;          // its base section (graph, metadata, tensors kept as in .mcm; deflated)
  uint64_t base_raw_bytes = 0;      // the same .mcm records before deflating
  uint64_t fp32_bytes = 0;          // every tensor of the model at 4 bytes per element
  double ratio() const { return file_bytes ? static_cast<double>(fp32_bytes) / file_bytes : 0.0; }
};

/// Writes `m` to `path` atomically. InputError for position bits outside 1..8.
PackResult save_mcz(const Model& m, const std::string& path, const PackOptions& o = {});

/// Reads, checks and verifies a .mcz archive.
Model load_mcz(const std::string& path);

/// True when `path` starts with the .mcz magic.
bool is_mcz_file(const std::string& path);

}  // namespace mc::ir::mcz
