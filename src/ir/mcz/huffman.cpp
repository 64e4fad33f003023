#include "ir/mcz/huffman.h"

#include <algorithm>
#include <queue>
#include <tuple>

#include "common/error.h"
#include "ir/mcz/bit_pack.h"

namespace mc::ir::mcz {

namespace {

constexpr int kLengthBits = 5;  // holds 0..kMaxCodeLength
constexpr uint16_t kSparseTable = 0x8000;

// Depth of each used symbol in a Huffman tree of `counts` (ties broken by node id: deterministic).
std::vector<uint8_t> tree_depths(const std::vector<uint64_t>& counts) {
  using Item = std::tuple<uint64_t, size_t>;  // weight, node id
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> q;
  std::vector<size_t> parent;
  for (size_t s = 0; s < counts.size(); ++s) {
    parent.push_back(SIZE_MAX);
    if (counts[s] > 0) q.emplace(counts[s], s);
  }
  while (q.size() > 1) {
    auto [wa, a] = q.top();
    q.pop();
    auto [wb, b] = q.top();
    q.pop();
    size_t node = parent.size();
    parent.push_back(SIZE_MAX);
    parent[a] = parent[b] = node;
    q.emplace(wa + wb, node);
  }
  std::vector<uint8_t> len(counts.size(), 0);
  for (size_t s = 0; s < counts.size(); ++s) {
    if (counts[s] == 0) continue;
    int d = 0;
    for (size_t n = s; parent[n] != SIZE_MAX; n = parent[n]) ++d;
    len[s] = static_cast<uint8_t>(std::max(d, 1));  // a lone symbol still takes one bit
  }
  return len;
}

// Canonical codes: per symbol, in order of (length, symbol).
std::vector<uint32_t> canonical_codes(const std::vector<uint8_t>& lengths) {
  std::vector<uint32_t> codes(lengths.size(), 0);
  uint32_t code = 0;
  for (int l = 1; l <= kMaxCodeLength; ++l) {
    for (size_t s = 0; s < lengths.size(); ++s)
      if (lengths[s] == l) codes[s] = code++;
    code <<= 1;
  }
  return codes;
}

// Kraft sum in units of 2^-kMaxCodeLength; a prefix code needs <= 2^kMaxCodeLength.
bool valid_lengths(const std::vector<uint8_t>& lengths) {
  uint64_t kraft = 0;
  for (uint8_t l : lengths) {
    if (l > kMaxCodeLength) return false;
    if (l > 0) kraft += uint64_t{1} << (kMaxCodeLength - l);
  }
  return kraft <= (uint64_t{1} << kMaxCodeLength);
}

}  // namespace

std::vector<uint8_t> huffman_lengths(const std::vector<uint64_t>& counts) {
  if (counts.size() > 256) throw Error("huffman_lengths: more than 256 symbols");
  std::vector<uint64_t> c = counts;
  for (;;) {
    std::vector<uint8_t> len = tree_depths(c);
    if (len.empty() || *std::max_element(len.begin(), len.end()) <= kMaxCodeLength)
      return len;
    for (auto& x : c) x = x == 0 ? 0 : (x + 1) / 2;  // flatten the distribution, keep every used symbol
  }
}

std::string huffman_encode(const std::vector<uint8_t>& symbols, const std::vector<uint8_t>& lengths) {
  std::vector<uint32_t> codes = canonical_codes(lengths);
  std::string out;
  uint32_t acc = 0;
  int nacc = 0;
  for (uint8_t s : symbols) {
    if (s >= lengths.size() || lengths[s] == 0)
      throw Error("huffman_encode: symbol " + std::to_string(s) + " has no code");
    for (int k = lengths[s] - 1; k >= 0; --k) {
      acc = (acc << 1) | ((codes[s] >> k) & 1);
      if (++nacc == 8) {
        out.push_back(static_cast<char>(acc));
        acc = 0;
        nacc = 0;
      }
    }
  }
  if (nacc > 0) out.push_back(static_cast<char>(acc << (8 - nacc)));
  return out;
}

bool huffman_decode(const std::string& bits, uint64_t count, const std::vector<uint8_t>& lengths,
                    std::vector<uint8_t>& out) {
  if (lengths.size() > 256 || !valid_lengths(lengths)) return false;
  if (count > bits.size() * uint64_t{8}) return false;  // every code has at least one bit
  // first code and first sorted index of each length; symbols sorted by (length, symbol)
  std::vector<uint32_t> n_of(kMaxCodeLength + 1, 0), first(kMaxCodeLength + 2, 0), start(kMaxCodeLength + 2, 0);
  std::vector<uint8_t> sorted;
  for (int l = 1; l <= kMaxCodeLength; ++l)
    for (size_t s = 0; s < lengths.size(); ++s)
      if (lengths[s] == l) {
        ++n_of[l];
        sorted.push_back(static_cast<uint8_t>(s));
      }
  uint32_t code = 0, index = 0;
  for (int l = 1; l <= kMaxCodeLength; ++l) {
    first[l] = code;
    start[l] = index;
    code = (code + n_of[l]) << 1;
    index += n_of[l];
  }
  std::vector<uint8_t> v;
  v.reserve(count);
  uint64_t bit = 0;
  const uint64_t nbits = bits.size() * uint64_t{8};
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t c = 0;
    int l = 0;
    for (;;) {
      if (bit >= nbits || ++l > kMaxCodeLength) return false;
      c = (c << 1) | ((static_cast<uint8_t>(bits[bit / 8]) >> (7 - bit % 8)) & 1);
      ++bit;
      if (c - first[l] < n_of[l] && c >= first[l]) {
        v.push_back(sorted[start[l] + c - first[l]]);
        break;
      }
    }
  }
  if ((bit + 7) / 8 != bits.size()) return false;  // bytes left over
  out = std::move(v);
  return true;
}

uint64_t huffman_bits(const std::vector<uint64_t>& counts, const std::vector<uint8_t>& lengths) {
  uint64_t b = 0;
  for (size_t s = 0; s < counts.size() && s < lengths.size(); ++s) b += counts[s] * lengths[s];
  return b;
}

// Dense form: u16 alphabet size A, then A lengths packed at 5 bits. Sparse form (smaller when few
// of the symbols below A are used): u16 0x8000 | n, n symbols (u8), their n lengths packed.
void write_code_table(ByteWriter& w, const std::vector<uint8_t>& lengths) {
  size_t a = lengths.size();
  while (a > 0 && lengths[a - 1] == 0) --a;
  std::vector<uint8_t> used, used_len;
  for (size_t s = 0; s < a; ++s)
    if (lengths[s] > 0) {
      used.push_back(static_cast<uint8_t>(s));
      used_len.push_back(lengths[s]);
    }
  if (used.size() + packed_bytes(used.size(), kLengthBits) < packed_bytes(a, kLengthBits)) {
    w.u16(static_cast<uint16_t>(kSparseTable | used.size()));
    w.bytes(std::string(used.begin(), used.end()));
    w.bytes(pack_bits(used_len, kLengthBits));
    return;
  }
  w.u16(static_cast<uint16_t>(a));
  w.bytes(pack_bits(std::vector<uint8_t>(lengths.begin(), lengths.begin() + static_cast<std::ptrdiff_t>(a)), kLengthBits));
}

bool read_code_table(ByteReader& r, std::vector<uint8_t>& lengths) {
  uint16_t head;
  if (!r.u16(head)) return false;
  const bool sparse = head & kSparseTable;
  const uint16_t n = head & ~kSparseTable;
  std::string symbols, packed;
  if (n > 256 || (sparse && !r.bytes(n, symbols)) || !r.bytes(packed_bytes(n, kLengthBits), packed)) return false;
  std::vector<uint8_t> len;
  if (!unpack_bits(packed, n, kLengthBits, len)) return false;
  for (uint8_t l : len)
    if (l > kMaxCodeLength) return false;
  if (!sparse) {
    lengths = std::move(len);
    return true;
  }
  std::vector<uint8_t> out;
  for (size_t i = 0; i < n; ++i) {
    const auto s = static_cast<uint8_t>(symbols[i]);
    if (s < out.size()) return false;  // symbols must be increasing
    out.resize(s + size_t{1}, 0);
    out[s] = len[i];
  }
  lengths = std::move(out);
  return true;
}

}  // namespace mc::ir::mcz
