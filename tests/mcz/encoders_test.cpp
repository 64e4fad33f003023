// The pure encoders of the .mcz archive: bit-packing, relative indices (Han et al.'s filler zeros),
// canonical Huffman coding and the stream block that picks between them. Round trips on random and
// adversarial inputs, exact layouts where the format fixes them, and damaged inputs refused.
#include <gtest/gtest.h>

#include <random>

#include "ir/mcz/bit_pack.h"
#include "ir/mcz/huffman.h"
#include "ir/mcz/relative_index.h"
#include "ir/mcz/stream_codec.h"

namespace mc::ir::mcz {
namespace {

std::vector<uint8_t> random_symbols(size_t n, int alphabet, uint32_t seed, double skew = 0.0) {
  std::mt19937 g(seed);
  std::vector<uint8_t> v(n);
  std::geometric_distribution<int> geo(skew > 0 ? skew : 0.5);
  std::uniform_int_distribution<int> uni(0, alphabet - 1);
  for (auto& x : v) x = static_cast<uint8_t>(skew > 0 ? std::min(geo(g), alphabet - 1) : uni(g));
  return v;
}

TEST(BitPack, KnownLayoutLsbFirst) {
  // 3-bit values 5 (101), 1 (001), 7 (111): bits 101 100 111 -> byte0 = 0b11_001_101, byte1 = 0b1
  EXPECT_EQ(pack_bits({5, 1, 7}, 3), std::string("\xcd\x01", 2));
  EXPECT_EQ(packed_bytes(3, 3), 2u);
  EXPECT_EQ(pack_bits({}, 4), "");
}

TEST(BitPack, RoundTripsEveryWidth) {
  for (int w = 1; w <= 8; ++w)
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{1000}}) {
      auto v = random_symbols(n, 1 << w, static_cast<uint32_t>(w * 1000 + n));
      std::string b = pack_bits(v, w);
      EXPECT_EQ(b.size(), (n * w + 7) / 8);
      std::vector<uint8_t> back;
      ASSERT_TRUE(unpack_bits(b, n, w, back)) << w << " " << n;
      EXPECT_EQ(back, v) << w << " " << n;
    }
}

TEST(BitPack, RefusesBadInput) {
  EXPECT_THROW(pack_bits({4}, 2), std::exception);  // does not fit
  EXPECT_THROW(pack_bits({1}, 0), std::exception);
  EXPECT_THROW(pack_bits({1}, 9), std::exception);
  std::vector<uint8_t> out{42};
  EXPECT_FALSE(unpack_bits("\x01", 3, 4, out));  // needs 2 bytes
  EXPECT_FALSE(unpack_bits("\x01\x02\x03", 3, 4, out));  // one too many
  EXPECT_FALSE(unpack_bits("\x01", 1, 9, out));
  EXPECT_EQ(out, std::vector<uint8_t>{42});
  EXPECT_EQ(bits_for(16), 4);
  EXPECT_EQ(bits_for(17), 5);
  EXPECT_EQ(bits_for(256), 8);
  EXPECT_EQ(bits_for(1), 1);
}

// Han et al. fig. 2 with 3 bits: a gap of 8 zeros needs one filler entry.
TEST(RelativeIndex, FillerWhereAGapOverflows) {
  RelativeIndex r = encode_relative({1, 4, 15}, 16, 3);
  // 1: gap 1; 4: gap 2; 15: 10 zeros since 5 -> filler (7 zeros, at 12), then gap 2
  EXPECT_EQ(r.gaps, (std::vector<uint8_t>{1, 2, 7, 2}));
  EXPECT_EQ(r.source, (std::vector<int64_t>{0, 1, -1, 2}));
  std::vector<int64_t> pos;
  ASSERT_TRUE(decode_relative(r.gaps, 16, 3, pos));
  EXPECT_EQ(pos, (std::vector<int64_t>{1, 4, 12, 15}));
}

TEST(RelativeIndex, TrailingZerosAreBridgedToo) {
  RelativeIndex r = encode_relative({0}, 40, 4);  // 39 zeros after: fillers at 16 and 32, 7 left
  EXPECT_EQ(r.gaps, (std::vector<uint8_t>{0, 15, 15}));
  std::vector<int64_t> pos;
  ASSERT_TRUE(decode_relative(r.gaps, 40, 4, pos));
  EXPECT_EQ(pos, (std::vector<int64_t>{0, 16, 32}));
  EXPECT_TRUE(encode_relative({}, 0, 4).gaps.empty());
  EXPECT_EQ(encode_relative({}, 15, 4).gaps.size(), 0u);  // 15 zeros fit in one gap
  EXPECT_EQ(encode_relative({}, 16, 4).gaps.size(), 1u);
}

TEST(RelativeIndex, RandomSparsityRoundTrips) {
  std::mt19937 g(7);
  for (int bits : {1, 3, 4, 5, 8})
    for (double density : {0.0, 0.01, 0.1, 0.5, 1.0}) {
      const int64_t n = 5000;
      std::vector<int64_t> nz;
      std::bernoulli_distribution keep(density);
      for (int64_t i = 0; i < n; ++i)
        if (keep(g)) nz.push_back(i);
      RelativeIndex r = encode_relative(nz, n, bits);
      std::vector<int64_t> pos;
      ASSERT_TRUE(decode_relative(r.gaps, n, bits, pos));
      ASSERT_LE(n, max_numel(r.gaps.size(), bits));
      std::vector<int64_t> real;
      for (size_t i = 0; i < pos.size(); ++i)
        if (r.source[i] >= 0) {
          EXPECT_EQ(pos[i], nz[static_cast<size_t>(r.source[i])]);
          real.push_back(pos[i]);
        }
      EXPECT_EQ(real, nz) << bits << " " << density;
    }
}

TEST(RelativeIndex, DamagedGapsAreRefused) {
  std::vector<int64_t> pos{99};
  EXPECT_FALSE(decode_relative({16}, 40, 4, pos));      // gap over 4 bits
  EXPECT_FALSE(decode_relative({15, 15, 15}, 40, 4, pos));  // runs past numel
  EXPECT_FALSE(decode_relative({0}, 40, 4, pos));       // 39 zeros left at the end
  EXPECT_EQ(pos, std::vector<int64_t>{99});
  EXPECT_THROW(encode_relative({3, 2}, 10, 4), std::exception);
  EXPECT_THROW(encode_relative({10}, 10, 4), std::exception);
}

void expect_huffman_round_trip(const std::vector<uint8_t>& v, const std::string& what) {
  std::vector<uint64_t> counts(256, 0);
  for (uint8_t s : v) ++counts[s];
  std::vector<uint8_t> len = huffman_lengths(counts);
  std::string bits = huffman_encode(v, len);
  EXPECT_EQ(bits.size(), (huffman_bits(counts, len) + 7) / 8) << what;
  ByteWriter w;
  write_code_table(w, len);
  ByteReader r(w.str());
  std::vector<uint8_t> len2, back;
  ASSERT_TRUE(read_code_table(r, len2)) << what;
  EXPECT_EQ(r.left(), 0u);
  len.resize(len2.size());  // the stored table stops at the last used symbol
  EXPECT_EQ(len2, len) << what;
  ASSERT_TRUE(huffman_decode(bits, v.size(), len2, back)) << what;
  EXPECT_EQ(back, v) << what;
}

TEST(Huffman, RoundTripsRandomAndAdversarialInputs) {
  expect_huffman_round_trip({}, "empty");
  expect_huffman_round_trip(std::vector<uint8_t>(1000, 200), "one symbol only");
  std::vector<uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(255 - i);
  expect_huffman_round_trip(all, "all 256 symbols, each once");
  expect_huffman_round_trip(random_symbols(10000, 256, 1), "256 symbols uniform");
  expect_huffman_round_trip(random_symbols(10000, 16, 2, 0.3), "16 symbols geometric");
  expect_huffman_round_trip({7, 3}, "two symbols");
}

// Fibonacci counts give the deepest tree: without a length limit 40 symbols would need 39 bits.
// Few used symbols spread over a wide alphabet: the table lists them (3 bytes + lengths), not 256
// lengths of 5 bits (160 bytes).
TEST(Huffman, SparseAlphabetTableIsSmall) {
  std::vector<uint8_t> v{255, 255, 255, 3, 255, 128};
  expect_huffman_round_trip(v, "three symbols up to 255");
  std::vector<uint64_t> counts(256, 0);
  for (uint8_t s : v) ++counts[s];
  ByteWriter w;
  write_code_table(w, huffman_lengths(counts));
  EXPECT_EQ(w.str().size(), 2u + 3u + 2u);
  std::string bad = w.str();
  std::swap(bad[2], bad[3]);  // symbols out of order
  ByteReader r(bad);
  std::vector<uint8_t> l;
  EXPECT_FALSE(read_code_table(r, l));
}

TEST(Huffman, LengthsAreLimitedAndStillRoundTrip) {
  std::vector<uint64_t> counts(40);
  counts[0] = counts[1] = 1;
  for (size_t i = 2; i < counts.size(); ++i) counts[i] = counts[i - 1] + counts[i - 2];
  std::vector<uint8_t> len = huffman_lengths(counts);
  for (uint8_t l : len) {
    EXPECT_GE(l, 1);
    EXPECT_LE(l, kMaxCodeLength);
  }
  std::vector<uint8_t> v;
  for (size_t s = 0; s < counts.size(); ++s)
    for (uint64_t k = 0; k < std::min<uint64_t>(counts[s], 50); ++k) v.push_back(static_cast<uint8_t>(s));
  std::vector<uint8_t> back;
  ASSERT_TRUE(huffman_decode(huffman_encode(v, len), v.size(), len, back));
  EXPECT_EQ(back, v);
}

TEST(Huffman, SkewedDataShrinks) {
  auto v = random_symbols(20000, 16, 3, 0.6);  // mostly 0 and 1
  std::vector<uint64_t> counts(256, 0);
  for (uint8_t s : v) ++counts[s];
  auto len = huffman_lengths(counts);
  EXPECT_LT(huffman_bits(counts, len), v.size() * 4 / 2);  // under half of 4-bit packing
  EXPECT_EQ(len[0], 1);
}

TEST(Huffman, DamagedStreamsAreRefused) {
  std::vector<uint8_t> len{1, 2, 2}, out{9};
  EXPECT_FALSE(huffman_decode("", 1, len, out));             // ends early
  EXPECT_FALSE(huffman_decode("\x00\x00", 3, len, out));     // a byte left over
  EXPECT_FALSE(huffman_decode("\x00", 9, len, out));         // more symbols than bits
  EXPECT_FALSE(huffman_decode("\x00", 1, {1, 1, 1}, out));   // over-subscribed code
  EXPECT_FALSE(huffman_decode("\x80", 1, {1}, out));         // code 1 belongs to no symbol
  EXPECT_FALSE(huffman_decode("\x00", 1, {21}, out));        // longer than the maximum
  EXPECT_EQ(out, std::vector<uint8_t>{9});
  ByteWriter w;
  w.u16(257);
  ByteReader r(w.str());
  std::vector<uint8_t> l;
  EXPECT_FALSE(read_code_table(r, l));
  ByteWriter w2;
  w2.u16(2);  // table cut short
  ByteReader r2(w2.str());
  EXPECT_FALSE(read_code_table(r2, l));
}

TEST(StreamCodec, PicksTheSmallerModeAndRoundTrips) {
  struct Case {
    std::vector<uint8_t> v;
    int width;
    bool huffman;
  };
  std::vector<Case> cases{{random_symbols(5000, 16, 4, 0.7), 4, true},
                          {random_symbols(5000, 256, 5), 8, false},  // uniform bytes: packing wins
                          {{}, 4, false},
                          {{3}, 2, false}};
  for (const auto& c : cases) {
    ByteWriter w;
    StreamSize s = write_stream(w, c.v, c.width);
    EXPECT_EQ(s.huffman, c.huffman);
    EXPECT_EQ(s.stored_bytes, w.str().size());
    EXPECT_LE(s.stored_bytes, s.packed_bytes);
    ByteReader r(w.str());
    std::vector<uint8_t> back;
    ASSERT_TRUE(read_stream(r, back));
    EXPECT_EQ(back, c.v);
    EXPECT_EQ(r.left(), 0u);
  }
}

TEST(StreamCodec, AbsurdCountIsRefusedBeforeAllocating) {
  ByteWriter w;
  w.u8(0);
  w.u64(uint64_t{1} << 60);  // packed, 2^60 symbols, in a 10-byte block
  w.u8(4);
  ByteReader r(w.str());
  std::vector<uint8_t> out;
  EXPECT_FALSE(read_stream(r, out));
  ByteWriter h;
  h.u8(1);
  h.u64(uint64_t{1} << 60);  // Huffman
  write_code_table(h, {1});
  h.blob("\x00");
  ByteReader r2(h.str());
  EXPECT_FALSE(read_stream(r2, out));
}

}  // namespace
}  // namespace mc::ir::mcz
