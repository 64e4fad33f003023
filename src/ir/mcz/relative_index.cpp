#include "ir/mcz/relative_index.h"

#include <string>

#include "common/error.h"

namespace mc::ir::mcz {

RelativeIndex encode_relative(const std::vector<int64_t>& positions, int64_t numel, int bits) {
  if (bits < 1 || bits > 8) throw Error("encode_relative: bits " + std::to_string(bits) + " is outside 1..8");
  const int64_t max_gap = (int64_t{1} << bits) - 1;
  RelativeIndex r;
  int64_t next = 0;  // the position an entry with gap 0 would take
  auto bridge = [&](int64_t to) {  // fillers until `to` is within one gap of `next`
    while (to - next > max_gap) {
      r.gaps.push_back(static_cast<uint8_t>(max_gap));
      r.source.push_back(-1);
      next += max_gap + 1;
    }
  };
  for (size_t i = 0; i < positions.size(); ++i) {
    int64_t p = positions[i];
    if (p < next || p >= numel) throw Error("encode_relative: positions must be increasing and below numel");
    bridge(p);
    r.gaps.push_back(static_cast<uint8_t>(p - next));
    r.source.push_back(static_cast<int64_t>(i));
    next = p + 1;
  }
  bridge(numel);
  return r;
}

bool decode_relative(const std::vector<uint8_t>& gaps, int64_t numel, int bits, std::vector<int64_t>& out) {
  if (bits < 1 || bits > 8 || numel < 0) return false;
  const int64_t max_gap = (int64_t{1} << bits) - 1;
  std::vector<int64_t> pos;
  pos.reserve(gaps.size());
  int64_t next = 0;
  for (uint8_t g : gaps) {
    if (g > max_gap) return false;
    int64_t p = next + g;
    if (p >= numel) return false;
    pos.push_back(p);
    next = p + 1;
  }
  if (numel - next > max_gap) return false;
  out = std::move(pos);
  return true;
}

int64_t max_numel(uint64_t entries, int bits) {
  const int64_t span = int64_t{1} << bits;
  return static_cast<int64_t>(entries) * span + span - 1;
}

}  // namespace mc::ir::mcz
