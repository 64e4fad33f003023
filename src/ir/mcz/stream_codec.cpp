#include "ir/mcz/stream_codec.h"

#include "ir/mcz/bit_pack.h"
#include "ir/mcz/huffman.h"

namespace mc::ir::mcz {

namespace {
constexpr uint8_t kPacked = 0, kHuffman = 1;
}

StreamSize write_stream(ByteWriter& w, const std::vector<uint8_t>& symbols, int width) {
  std::vector<uint64_t> counts(256, 0);
  for (uint8_t s : symbols) ++counts[s];
  ByteWriter packed, coded;
  packed.u8(kPacked);
  packed.u64(symbols.size());
  packed.u8(static_cast<uint8_t>(width));
  packed.bytes(pack_bits(symbols, width));
  std::vector<uint8_t> lengths = huffman_lengths(counts);
  coded.u8(kHuffman);
  coded.u64(symbols.size());
  write_code_table(coded, lengths);
  coded.blob(huffman_encode(symbols, lengths));
  StreamSize s;
  s.packed_bytes = packed.str().size();
  s.huffman = coded.str().size() < packed.str().size();
  s.stored_bytes = s.huffman ? coded.str().size() : s.packed_bytes;
  w.bytes(s.huffman ? coded.str() : packed.str());
  return s;
}

bool read_stream(ByteReader& r, std::vector<uint8_t>& out) {
  uint8_t mode;
  uint64_t count;
  if (!r.u8(mode) || !r.u64(count)) return false;
  if (mode == kPacked) {
    uint8_t width;
    std::string bytes;
    if (!r.u8(width) || width < 1 || width > 8) return false;
    if (count > r.left() * uint64_t{8}) return false;  // before sizing anything from it
    return r.bytes(packed_bytes(count, width), bytes) && unpack_bits(bytes, count, width, out);
  }
  if (mode != kHuffman) return false;
  std::vector<uint8_t> lengths;
  std::string bits;
  return read_code_table(r, lengths) && r.blob(bits) && huffman_decode(bits, count, lengths, out);
}

}  // namespace mc::ir::mcz
