// Bit-packing of small unsigned integers (widths 1..8), least significant bit first: value i
// occupies bits [i*width, (i+1)*width) of the byte string, bit k of a byte being (byte >> k) & 1.
// Pure functions; the .mcz archive stores cluster indices this way when Huffman coding would not
// make them smaller (ir/mcz/stream_codec.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mc::ir::mcz {

/// Bytes needed for `count` values of `width` bits.
uint64_t packed_bytes(uint64_t count, int width);

/// Packs `values` at `width` (1..8) bits each. Throws mc::Error when the width is out of range or
/// a value does not fit in it (a caller bug, not bad input).
std::string pack_bits(const std::vector<uint8_t>& values, int width);

/// Unpacks `count` values of `width` bits from `bytes`. Returns false (out untouched) when `bytes`
/// is not exactly packed_bytes(count, width) long or the width is out of range.
bool unpack_bits(const std::string& bytes, uint64_t count, int width, std::vector<uint8_t>& out);

/// Smallest width (1..8) that holds every value below `alphabet` (alphabet 0..256; 0 and 1 give 1).
int bits_for(uint32_t alphabet);

}  // namespace mc::ir::mcz
