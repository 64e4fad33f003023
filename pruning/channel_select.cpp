#include "pruning/channel_select.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mc::prune {

int64_t round_kept(int64_t n, int64_t kept, int64_t round_to) {
  kept = std::clamp<int64_t>(kept, 1, n);
  if (round_to <= 1 || kept == n) return kept;
  if (n < round_to) return n;
  int64_t r = static_cast<int64_t>(std::llround(static_cast<double>(kept) / round_to)) * round_to;
  return std::clamp<int64_t>(r, round_to, n);
}

namespace {
// The `count` lowest finite scores of a group, ascending.
std::vector<int64_t> lowest(const std::vector<double>& s, int64_t count) {
  std::vector<int64_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return s[a] < s[b]; });
  std::vector<int64_t> out;
  for (int64_t i : idx) {
    if (static_cast<int64_t>(out.size()) >= count || std::isinf(s[i])) break;
    out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

std::vector<std::vector<int64_t>> select_units(const std::vector<std::vector<double>>& scores, double ratio,
                                               bool global, int64_t round_to) {
  const size_t G = scores.size();
  std::vector<int64_t> remove(G, 0);
  if (!global) {
    for (size_t g = 0; g < G; ++g) remove[g] = static_cast<int64_t>(std::floor(ratio * scores[g].size() + 1e-9));
  } else {
    struct Entry {
      double v;
      size_t g;
    };
    std::vector<Entry> all;
    for (size_t g = 0; g < G; ++g) {
      double sum = 0;
      int64_t k = 0;
      for (double v : scores[g])
        if (!std::isinf(v)) sum += v, ++k;
      double mean = k ? sum / k : 1.0;
      for (double v : scores[g])
        if (!std::isinf(v)) all.push_back({mean > 0 ? v / mean : v, g});
    }
    std::stable_sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.v < b.v; });
    int64_t total = 0;
    for (auto& s : scores) total += static_cast<int64_t>(s.size());
    const int64_t target = static_cast<int64_t>(std::floor(ratio * total + 1e-9));
    for (int64_t i = 0; i < target && i < static_cast<int64_t>(all.size()); ++i) ++remove[all[i].g];
  }
  std::vector<std::vector<int64_t>> out(G);
  for (size_t g = 0; g < G; ++g) {
    const int64_t n = static_cast<int64_t>(scores[g].size());
    if (n == 0) continue;
    const int64_t kept = round_kept(n, n - remove[g], round_to);
    out[g] = lowest(scores[g], n - kept);
  }
  return out;
}

}  // namespace mc::prune
