#include "lowrank/rank_rule.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "common/error.h"
#include "lowrank/rank.h"
#include "lowrank/svd.h"
#include "lowrank/vbmf.h"

namespace mc::lowrank {

std::string rule_key(RankRule::Kind k) {
  switch (k) {
    case RankRule::Kind::none: return "";
    case RankRule::Kind::rank: return "rank";
    case RankRule::Kind::ratio: return "rank_ratio";
    case RankRule::Kind::energy: return "energy";
    case RankRule::Kind::vbmf: return "vbmf";
  }
  return "";
}

std::string rule_problem(const RankRule& rule, ConvMethod method, bool linear) {
  if (linear) {
    if (rule.kind == RankRule::Kind::rank && rule.rank.size() != 1)
      return "linear layers take one rank, got " + ranks_text(rule.rank);
    return "";
  }
  if (rule.kind == RankRule::Kind::energy && method == ConvMethod::cp)
    return "energy does not apply to method cp (CP has no singular values); use rank or rank_ratio";
  if (rule.kind == RankRule::Kind::vbmf && method != ConvMethod::tucker2)
    return "vbmf applies to method tucker2 only (EVBMF of its two unfoldings), not " + method_name(method) +
           "; use rank, rank_ratio or energy";
  if (rule.kind == RankRule::Kind::rank && rule.rank.size() == 2 && method != ConvMethod::tucker2)
    return "a rank pair [r_in, r_out] applies to method tucker2 only; " + method_name(method) + " takes one rank";
  if (rule.kind == RankRule::Kind::rank && (rule.rank.empty() || rule.rank.size() > 2))
    return "rank is one number, or [r_in, r_out] for tucker2";
  return "";
}

namespace {
int64_t energy_of(const at::Tensor& matrix, double e) { return energy_rank(at::linalg_svdvals(matrix), e); }
}  // namespace

Ranks rule_ranks(const at::Tensor& w, const LayerShape& s, ConvMethod method, const RankRule& rule) {
  const std::string why = rule_problem(rule, method, !s.conv);
  if (!why.empty()) throw Error("rule_ranks: " + why);
  const bool tucker = s.conv && method == ConvMethod::tucker2;
  switch (rule.kind) {
    case RankRule::Kind::none: throw Error("rule_ranks: no rank rule");
    case RankRule::Kind::rank:
      if (tucker && rule.rank.size() == 1) return {rule.rank[0], rule.rank[0]};
      return rule.rank;
    case RankRule::Kind::ratio: {
      if (tucker) {
        const Ranks max = max_ranks(s, method);
        return {ratio_rank(max[0], rule.value), ratio_rank(max[1], rule.value)};
      }
      return {ratio_rank(max_ranks(s, method)[0], rule.value)};
    }
    case RankRule::Kind::energy: {
      const at::Tensor wd = w.detach().to(at::kDouble);
      if (!s.conv) return {energy_of(wd, rule.value)};
      if (tucker) return {energy_of(mode_unfolding(wd, 1), rule.value), energy_of(mode_unfolding(wd, 0), rule.value)};
      return {energy_of(method == ConvMethod::channel_svd ? channel_matrix(wd) : spatial_matrix(wd), rule.value)};
    }
    case RankRule::Kind::vbmf: {
      if (!s.conv) return {std::max<int64_t>(1, vbmf_rank(w.detach()))};
      const auto [r_in, r_out] = tucker2_vbmf_ranks(w.detach());
      return {r_in, r_out};
    }
  }
  return {};
}

}  // namespace mc::lowrank
