#include "ir/mcz/bit_pack.h"

#include "common/error.h"

namespace mc::ir::mcz {

uint64_t packed_bytes(uint64_t count, int width) { return (count * static_cast<uint64_t>(width) + 7) / 8; }

std::string pack_bits(const std::vector<uint8_t>& values, int width) {
  if (width < 1 || width > 8) throw Error("pack_bits: width " + std::to_string(width) + " is outside 1..8");
  std::string out(packed_bytes(values.size(), width), '\0');
  uint64_t bit = 0;
  for (uint8_t v : values) {
    if (width < 8 && (v >> width) != 0)
      throw Error("pack_bits: value " + std::to_string(v) + " does not fit in " + std::to_string(width) + " bits");
    for (int k = 0; k < width; ++k, ++bit)
      if ((v >> k) & 1) out[bit / 8] = static_cast<char>(static_cast<uint8_t>(out[bit / 8]) | (1u << (bit % 8)));
  }
  return out;
}

bool unpack_bits(const std::string& bytes, uint64_t count, int width, std::vector<uint8_t>& out) {
  if (width < 1 || width > 8) return false;
  if (count > bytes.size() * uint64_t{8} || bytes.size() != packed_bytes(count, width)) return false;
  std::vector<uint8_t> v(count);
  uint64_t bit = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint8_t x = 0;
    for (int k = 0; k < width; ++k, ++bit) x |= static_cast<uint8_t>(((static_cast<uint8_t>(bytes[bit / 8]) >> (bit % 8)) & 1) << k);
    v[i] = x;
  }
  out = std::move(v);
  return true;
}

int bits_for(uint32_t alphabet) {
  int w = 1;
  while (w < 8 && (uint32_t{1} << w) < alphabet) ++w;
  return w;
}

}  // namespace mc::ir::mcz
