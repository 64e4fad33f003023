// One weight tensor of a .mcz archive (Deep Compression's storage, Han et al. 2016): its entries
// (non-zeros plus filler zeros) located by relative indices, and their values either as indices
// into an fp32 codebook (<= 256 distinct values) or as fp32. Values are compared as bit patterns,
// so NaN payloads and every float come back bit for bit. A zero is +0.0 or -0.0: the -0.0s (left
// by mask-multiplied pruning wherever a negative weight was zeroed) are not entries: they are a
// second relative-index list or one sign bit per zero, whichever is smaller.
// Payload (little-endian):
//   u8 encoding (1 codebook, 2 sparse fp32), u8 ndim, ndim x u64 dims, u32 CRC-32 of the original
//   tensor (checkpoint::tensor_crc32, checked after decoding), u8 position bits,
//   gap stream (stream_codec.h),
//   codebook: u16 K, K x f32 bits, index stream;   sparse: u64 n, n x f32 bits
//   u8 -0.0 mode: 0 none; 1 u8 bits, their gap stream at those bits, then a 1-bit stream flagging
//   the fillers among them; 2 a 1-bit stream, one sign per zero (+0.0 or -0.0) in order
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

namespace mc::ir::mcz {

/// What pack measured for one weight (the rows of `compress pack`'s table).
struct WeightStats {
  std::string layer;     // module scope (or the tensor name when there is none)
  std::string tensor;
  std::string encoding;  // "codebook", "sparse" or "dense" (kept as fp32, as in .mcm)
  int64_t weights = 0, nonzeros = 0, distinct = 0;  // nonzeros, distinct: neither +0.0 nor -0.0
  int64_t negative_zeros = 0;
  int index_bits = 0, position_bits = 0;
  int64_t codebook_bits = 0;
  uint64_t packed_bytes = 0;  // both streams bit-packed at their widths
  uint64_t coded_bytes = 0;   // both streams as stored (Huffman where it was smaller)
  uint64_t bytes = 0;         // the tensor's section in the file (dense: its fp32 bytes)
  double huffman_gain() const { return coded_bytes ? static_cast<double>(packed_bytes) / coded_bytes : 1.0; }
  double ratio() const { return bytes ? 4.0 * static_cast<double>(weights) / static_cast<double>(bytes) : 0.0; }
};

/// Encodes a float32 CPU tensor; nullopt when it is not float32 or when the encoding would not be
/// smaller than its fp32 bytes (it then stays in the base section). Fills `stats` either way
/// (bytes: the payload size, or the fp32 bytes when dense).
std::optional<std::string> encode_weight(const at::Tensor& w, int position_bits, WeightStats& stats);

/// Decodes a payload written by encode_weight. On damage returns false with `why` set.
bool decode_weight(const std::string& payload, at::Tensor& out, std::string& why);

}  // namespace mc::ir::mcz
