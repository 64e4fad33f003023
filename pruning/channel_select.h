/// Which units of each group to remove, from their importance scores (pure helpers).
///   uniform: every group removes floor(ratio * n) of its n units (its lowest scores).
///   global:  scores are divided by their group's mean (groups differ in member count and scale),
///            pooled, and the lowest ratio * total units go, each group keeping at least one.
/// Then each group's kept count is rounded to a multiple of `round_to` (nearest; at least
/// round_to, never more than n; a group smaller than round_to is left whole). A group is never
/// pruned to zero. Infinite scores (no evidence, e.g. bn_scale without BatchNorm) are never pruned.
#pragma once
#include <cstdint>
#include <vector>

namespace mc::prune {

/// Rounds a kept count as described above.
int64_t round_kept(int64_t n, int64_t kept, int64_t round_to);

/// Indices (into each group's units) to remove, one list per group.
std::vector<std::vector<int64_t>> select_units(const std::vector<std::vector<double>>& scores, double ratio,
                                               bool global, int64_t round_to);

}  // namespace mc::prune
