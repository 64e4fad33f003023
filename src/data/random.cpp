#include "data/random.h"

#include <numeric>
#include <utility>

#include "common/splitmix64.h"

namespace mc::data {

// Lemire's multiply-shift with rejection.
uint64_t random_below(uint64_t& state, uint64_t bound) {
  unsigned __int128 m = static_cast<unsigned __int128>(splitmix64(state)) * bound;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < bound) {
    uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(splitmix64(state)) * bound;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t s = a;
  uint64_t x = splitmix64(s);
  s = x ^ (b + 0x632BE59BD9B4E019ULL);
  return splitmix64(s);
}

std::vector<int64_t> random_permutation(size_t n, uint64_t seed) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), int64_t{0});
  uint64_t state = mix_seed(seed, 0x5EEDULL);
  for (size_t i = n; i > 1; --i) {
    size_t j = static_cast<size_t>(random_below(state, i));
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

}  // namespace mc::data
