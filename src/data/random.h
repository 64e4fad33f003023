// Seeded randomness shared by the data layer: seed mixing and reproducible permutations.
// Results depend only on the seeds (not on the standard library), so shuffles are identical
// on every platform and for every worker count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mc::data {

/// Mixes two 64-bit values into a well-spread seed (splitmix64 based). mix_seed(a, b) != mix_seed(b, a).
uint64_t mix_seed(uint64_t a, uint64_t b);

/// An unbiased integer in [0, bound) (bound > 0) from the splitmix64 stream `state` (advanced).
uint64_t random_below(uint64_t& state, uint64_t bound);

/// A uniformly random permutation of 0..n-1 (Fisher-Yates on a splitmix64 stream), fixed by `seed`.
std::vector<int64_t> random_permutation(size_t n, uint64_t seed);

}  // namespace mc::data
