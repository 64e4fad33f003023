// Sparse positions as relative indices (Han et al. 2016, "Deep Compression", section 4 / fig. 2):
// each stored entry keeps the gap (number of zeros skipped) since the previous entry in `bits`
// bits. A gap larger than 2^bits - 1 is bridged by filler entries, each a zero value at gap
// 2^bits - 1. Our one addition: fillers also bridge the zeros after the last non-zero, so that
// a reader can bound the tensor size by the entries it holds (numel <= sum(gap + 1) + max gap).
// Pure functions; the .mcz archive uses 4 bits for conv weights and 5 for fc ones by default.
#pragma once
#include <cstdint>
#include <vector>

namespace mc::ir::mcz {

struct RelativeIndex {
  std::vector<uint8_t> gaps;     // one per entry, each <= 2^bits - 1
  /// Per entry: the index into the non-zero list it stores, or -1 for a filler (a zero value).
  std::vector<int64_t> source;
};

/// Encodes the strictly increasing `positions` (of the non-zeros in a flat tensor of `numel`
/// elements) at `bits` (1..8). Throws mc::Error for unsorted or out-of-range positions (caller bug).
RelativeIndex encode_relative(const std::vector<int64_t>& positions, int64_t numel, int bits);

/// The flat position of every entry (fillers included). False (out untouched) when the gaps do not
/// fit `bits`, run past `numel`, or leave more than 2^bits - 1 zeros at the end (damaged input).
bool decode_relative(const std::vector<uint8_t>& gaps, int64_t numel, int bits, std::vector<int64_t>& out);

/// Largest `numel` that `entries` entries at `bits` can describe: entries * 2^bits + 2^bits - 1.
int64_t max_numel(uint64_t entries, int bits);

}  // namespace mc::ir::mcz
