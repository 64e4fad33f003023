#include "ir/mcz/weight_codec.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "ir/checkpoint_check.h"
#include "ir/mcz/bit_pack.h"
#include "ir/mcz/byte_io.h"
#include "ir/mcz/relative_index.h"
#include "ir/mcz/stream_codec.h"

namespace mc::ir::mcz {

namespace {

constexpr uint8_t kCodebook = 1, kSparse = 2;
constexpr int kMaxDims = 8;
constexpr size_t kMaxCodebook = 256;
constexpr uint32_t kNegZero = 0x80000000u;

// The tensor's values as bit patterns, the positions of the non-zero ones (neither +0.0 nor -0.0)
// and those of the -0.0s (a mask-multiplied pruning leaves one wherever it zeroed a negative weight).
struct Entries {
  std::vector<uint32_t> bits;  // per entry (fillers: 0)
  RelativeIndex index;
  std::vector<int64_t> negative_zeros;  // positions of the -0.0s
  std::vector<uint8_t> zero_signs;      // per zero (+0.0 or -0.0), in order: 1 for -0.0
};

constexpr uint8_t kNoNegZeros = 0, kNegZeroList = 1, kNegZeroBitmap = 2;

Entries entries_of(const at::Tensor& c, int position_bits) {
  const int64_t n = c.numel();
  std::vector<uint32_t> all(static_cast<size_t>(n));
  std::memcpy(all.data(), c.data_ptr(), static_cast<size_t>(n) * 4);
  std::vector<int64_t> pos, neg;
  Entries e;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t b = all[static_cast<size_t>(i)];
    if (b == kNegZero) neg.push_back(i);
    else if (b != 0) pos.push_back(i);
    if (b == kNegZero || b == 0) e.zero_signs.push_back(b == kNegZero ? 1 : 0);
  }
  e.index = encode_relative(pos, n, position_bits);
  e.negative_zeros = std::move(neg);
  e.bits.reserve(e.index.source.size());
  for (int64_t s : e.index.source) e.bits.push_back(s < 0 ? 0u : all[static_cast<size_t>(pos[static_cast<size_t>(s)])]);
  return e;
}

void write_values_codebook(ByteWriter& w, const std::vector<uint32_t>& book, const Entries& e, WeightStats& st) {
  w.u16(static_cast<uint16_t>(book.size()));
  for (uint32_t b : book) w.u32(b);
  std::vector<uint8_t> idx;
  idx.reserve(e.bits.size());
  for (uint32_t b : e.bits)
    idx.push_back(static_cast<uint8_t>(std::lower_bound(book.begin(), book.end(), b) - book.begin()));
  st.index_bits = bits_for(static_cast<uint32_t>(book.size()));
  st.codebook_bits = 32 * static_cast<int64_t>(book.size());
  StreamSize s = write_stream(w, idx, st.index_bits);
  st.packed_bytes += s.packed_bytes;
  st.coded_bytes += s.stored_bytes;
}

// u8 mode: 0 none; 1 u8 bits, their relative-index gaps at those bits and one filler flag per
// entry (1 = filler); 2 one sign bit per zero, in order. The smallest of the list at 4 and 8 bits
// and the bitmap (which wins when -0.0s are a large share of the zeros: one bit per zero, the
// entropy of a random sign).
void write_negative_zeros(ByteWriter& w, const Entries& e, int64_t numel, WeightStats& st) {
  const std::vector<int64_t>& neg = e.negative_zeros;
  st.negative_zeros = static_cast<int64_t>(neg.size());
  if (neg.empty()) {
    w.u8(kNoNegZeros);
    return;
  }
  ByteWriter best;
  StreamSize best_size;
  best.u8(kNegZeroBitmap);
  best_size = write_stream(best, e.zero_signs, 1);
  for (int bits : {4, 8}) {
    RelativeIndex idx = encode_relative(neg, numel, bits);
    std::vector<uint8_t> filler;
    filler.reserve(idx.source.size());
    for (int64_t s : idx.source) filler.push_back(s < 0 ? 1 : 0);
    ByteWriter list;
    list.u8(kNegZeroList);
    list.u8(static_cast<uint8_t>(bits));
    StreamSize g = write_stream(list, idx.gaps, bits), f = write_stream(list, filler, 1);
    if (list.str().size() >= best.str().size()) continue;
    best = std::move(list);
    best_size = {g.packed_bytes + f.packed_bytes, g.stored_bytes + f.stored_bytes, g.huffman || f.huffman};
  }
  w.bytes(best.str());
  st.packed_bytes += best_size.packed_bytes;
  st.coded_bytes += best_size.stored_bytes;
}

}  // namespace

std::optional<std::string> encode_weight(const at::Tensor& w, int position_bits, WeightStats& st) {
  st.weights = w.numel();
  st.position_bits = position_bits;
  st.encoding = "dense";
  st.bytes = static_cast<uint64_t>(w.numel()) * 4;
  if (w.scalar_type() != at::kFloat || w.dim() > kMaxDims) return std::nullopt;
  at::Tensor c = w.detach().to(at::kCPU).contiguous();
  Entries e = entries_of(c, position_bits);
  std::vector<uint32_t> book = e.bits;
  std::sort(book.begin(), book.end());
  book.erase(std::unique(book.begin(), book.end()), book.end());
  bool has_filler = std::find(e.index.source.begin(), e.index.source.end(), -1) != e.index.source.end();
  st.nonzeros = static_cast<int64_t>(e.bits.size()) - std::count(e.index.source.begin(), e.index.source.end(), -1);
  st.distinct = static_cast<int64_t>(book.size()) - (has_filler ? 1 : 0);  // only fillers are +0.0
  ByteWriter out;
  const bool codebook = book.size() <= kMaxCodebook;
  out.u8(codebook ? kCodebook : kSparse);
  out.u8(static_cast<uint8_t>(c.dim()));
  for (int64_t d : c.sizes()) out.u64(static_cast<uint64_t>(d));
  out.u32(checkpoint::tensor_crc32(c));
  out.u8(static_cast<uint8_t>(position_bits));
  StreamSize g = write_stream(out, e.index.gaps, position_bits);
  st.packed_bytes = g.packed_bytes;
  st.coded_bytes = g.stored_bytes;
  if (codebook) {
    write_values_codebook(out, book, e, st);
  } else {
    out.u64(e.bits.size());
    for (uint32_t b : e.bits) out.u32(b);
  }
  write_negative_zeros(out, e, c.numel(), st);
  if (out.str().size() >= st.bytes) return std::nullopt;
  st.encoding = codebook ? "codebook" : "sparse";
  st.bytes = out.str().size();
  return out.take();
}

namespace {

bool fail(std::string& why, const std::string& what) {
  why = what;
  return false;
}

// Values per entry, as bit patterns, from the codebook or fp32 part of a payload.
bool read_values(ByteReader& r, uint8_t encoding, size_t entries, std::vector<uint32_t>& bits, std::string& why) {
  if (encoding == kSparse) {
    uint64_t n;
    if (!r.u64(n) || n != entries || n > r.left() / 4) return fail(why, "its fp32 values do not match its positions");
    bits.resize(entries);
    for (auto& b : bits) r.u32(b);
    return true;
  }
  uint16_t k;
  if (!r.u16(k) || (k == 0 && entries > 0) || k > kMaxCodebook || k > r.left() / 4) return fail(why, "its codebook is damaged");
  std::vector<uint32_t> book(k);
  for (auto& b : book) r.u32(b);
  std::vector<uint8_t> idx;
  if (!read_stream(r, idx) || idx.size() != entries) return fail(why, "its cluster-index stream is damaged");
  bits.resize(entries);
  for (size_t i = 0; i < entries; ++i) {
    if (idx[i] >= k) return fail(why, "a cluster index points past its codebook");
    bits[i] = book[idx[i]];
  }
  return true;
}

// Where the -0.0s go: positions (list mode, fillers dropped) or one sign per zero (bitmap mode).
struct NegativeZeros {
  uint8_t mode = kNoNegZeros;
  std::vector<int64_t> positions;
  std::vector<uint8_t> signs;
};

bool read_negative_zeros(ByteReader& r, int64_t numel, NegativeZeros& nz, std::string& why) {
  if (!r.u8(nz.mode) || nz.mode > kNegZeroBitmap) return fail(why, "its -0.0 mode is damaged");
  if (nz.mode == kNegZeroBitmap) {
    if (!read_stream(r, nz.signs)) return fail(why, "its -0.0 signs are damaged");
    for (uint8_t b : nz.signs)
      if (b > 1) return fail(why, "its -0.0 signs are damaged");
    return true;
  }
  if (nz.mode == kNoNegZeros) return true;
  std::vector<uint8_t> gaps, filler;
  std::vector<int64_t> pos;
  uint8_t bits;
  if (!r.u8(bits) || bits < 1 || bits > 8 || !read_stream(r, gaps) || numel > max_numel(gaps.size(), bits) || !decode_relative(gaps, numel, bits, pos) ||
      !read_stream(r, filler) || filler.size() != gaps.size())
    return fail(why, "its -0.0 positions are damaged");
  for (size_t i = 0; i < pos.size(); ++i) {
    if (filler[i] > 1) return fail(why, "its -0.0 positions are damaged");
    if (!filler[i]) nz.positions.push_back(pos[i]);
  }
  return true;
}

bool apply_negative_zeros(uint32_t* dst, int64_t numel, const NegativeZeros& nz, std::string& why) {
  for (int64_t p : nz.positions) {
    if (dst[p] != 0) return fail(why, "a -0.0 position holds a non-zero too");
    dst[p] = kNegZero;
  }
  if (nz.mode != kNegZeroBitmap) return true;
  size_t k = 0;
  for (int64_t i = 0; i < numel; ++i) {
    if (dst[i] != 0) continue;
    if (k == nz.signs.size()) return fail(why, "its -0.0 signs are fewer than its zeros");
    if (nz.signs[k++]) dst[i] = kNegZero;
  }
  if (k != nz.signs.size()) return fail(why, "its -0.0 signs are more than its zeros");
  return true;
}

}  // namespace

bool decode_weight(const std::string& payload, at::Tensor& out, std::string& why) {
  ByteReader r(payload);
  uint8_t encoding, ndim, pbits;
  uint32_t crc;
  if (!r.u8(encoding) || (encoding != kCodebook && encoding != kSparse)) return fail(why, "its encoding is unknown");
  if (!r.u8(ndim) || ndim > kMaxDims) return fail(why, "its shape is damaged");
  std::vector<int64_t> dims(ndim);
  int64_t numel = 1;
  for (auto& d : dims) {
    uint64_t v;
    if (!r.u64(v) || v > (uint64_t{1} << 40) || (v > 0 && numel > (int64_t{1} << 40) / static_cast<int64_t>(v)))
      return fail(why, "its shape is damaged");
    d = static_cast<int64_t>(v);
    numel *= d;
  }
  std::vector<uint8_t> gaps;
  std::vector<int64_t> pos;
  if (!r.u32(crc) || !r.u8(pbits) || pbits < 1 || pbits > 8 || !read_stream(r, gaps))
    return fail(why, "its relative-index stream is damaged");
  if (numel > max_numel(gaps.size(), pbits) || !decode_relative(gaps, numel, pbits, pos))
    return fail(why, "its relative indices do not fit its shape");
  std::vector<uint32_t> bits;
  if (!read_values(r, encoding, gaps.size(), bits, why)) return false;
  NegativeZeros neg;
  if (!read_negative_zeros(r, numel, neg, why)) return false;
  if (r.left() != 0) return fail(why, "it has bytes after its values");
  at::Tensor t = at::zeros(dims, at::kFloat);  // numel is bounded by the entries read above
  auto* dst = static_cast<uint32_t*>(t.data_ptr());
  for (size_t i = 0; i < pos.size(); ++i) dst[pos[i]] = bits[i];
  if (!apply_negative_zeros(dst, numel, neg, why)) return false;
  if (checkpoint::tensor_crc32(t) != crc) return fail(why, "its decoded values fail the original tensor's CRC-32");
  out = t;
  return true;
}

}  // namespace mc::ir::mcz
