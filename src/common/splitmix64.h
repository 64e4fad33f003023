// splitmix64 (Steele, Lea & Flood 2014): the 64-bit generator behind seeded permutations (data/)
// and the shared-weight hash coefficients (ir/shared_index): one step advances `state` and returns
// a well-mixed 64-bit value. Fixed here because files and checkpoints depend on its exact output.
#pragma once
#include <cstdint>

namespace mc {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace mc
