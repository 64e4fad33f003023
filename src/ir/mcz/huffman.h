// Canonical Huffman coding of byte symbols (Deep Compression's last step, Han et al. 2016 sec. 5).
// Code lengths come from symbol counts (at most kMaxCodeLength bits: counts are halved until the
// tree fits, as zlib-style coders do); codes are canonical (assigned in order of length, then
// symbol), so only the lengths are stored: the alphabet size as u16 and one 5-bit length per
// symbol (0 = unused), or, when fewer bytes, the used symbols (u8 each) and their 5-bit lengths.
// Bits are written most significant first. Pure functions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/mcz/byte_io.h"

namespace mc::ir::mcz {

constexpr int kMaxCodeLength = 20;

/// Code length per symbol (symbol = index into `counts`, at most 256 of them; 0 = not used). One
/// used symbol gets length 1; no used symbol gives all zeros.
std::vector<uint8_t> huffman_lengths(const std::vector<uint64_t>& counts);

/// Encodes `symbols` with the canonical code of `lengths`. Throws mc::Error when a symbol has no
/// code (caller bug). Returns the bit stream, padded with zero bits to whole bytes.
std::string huffman_encode(const std::vector<uint8_t>& symbols, const std::vector<uint8_t>& lengths);

/// Decodes exactly `count` symbols from `bits`. False (out untouched) when the lengths are not a
/// valid prefix code, the stream ends early, holds a code no symbol has, or has bytes left over.
bool huffman_decode(const std::string& bits, uint64_t count, const std::vector<uint8_t>& lengths,
                    std::vector<uint8_t>& out);

/// Total bits of `counts` symbols coded with `lengths`.
uint64_t huffman_bits(const std::vector<uint64_t>& counts, const std::vector<uint8_t>& lengths);

/// The stored code table, the smaller of: u16 alphabet size (highest used symbol + 1) and the 5-bit
/// lengths packed; u16 0x8000 | n, the n used symbols (increasing, u8 each), their lengths packed.
void write_code_table(ByteWriter& w, const std::vector<uint8_t>& lengths);
/// Reads a table written by write_code_table; false when damaged (size over 256, length over max).
bool read_code_table(ByteReader& r, std::vector<uint8_t>& lengths);

}  // namespace mc::ir::mcz
