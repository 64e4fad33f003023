// One stream of small symbols (cluster indices or relative-index gaps) as stored in a .mcz tensor
// section: bit-packed at a fixed width, or canonical-Huffman coded when that is smaller.
//   u8 mode (0 bit-packed, 1 Huffman), u64 count,
//   mode 0: u8 width, ceil(count * width / 8) bytes
//   mode 1: code table (huffman.h), u64 length, bit stream
#pragma once
#include <cstdint>
#include <vector>

#include "ir/mcz/byte_io.h"

namespace mc::ir::mcz {

struct StreamSize {
  uint64_t packed_bytes = 0;  // the block bit-packed at `width`
  uint64_t stored_bytes = 0;  // the block as written (the smaller of the two)
  bool huffman = false;
};

/// Writes `symbols` (each < 2^width, width 1..8) in the smaller of the two modes.
StreamSize write_stream(ByteWriter& w, const std::vector<uint8_t>& symbols, int width);

/// Reads a block written by write_stream. False when damaged (lengths beyond the bytes left, an
/// invalid code, a width outside 1..8).
bool read_stream(ByteReader& r, std::vector<uint8_t>& out);

}  // namespace mc::ir::mcz
