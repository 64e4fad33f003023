#include "pruning/block_prune_stage.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "pipeline/data_context.h"
#include "pipeline/layer_select.h"
#include "pruning/channel_prune.h"
#include "pruning/residual_blocks.h"
#include "train/evaluator.h"

namespace mc::prune {

using recipe::Spec;

void BlockPruneOptions::visit(recipe::Visitor& v) {
  v.field("blocks", blocks, "scope globs of the residual blocks to remove, e.g. [layer1.0]");
  v.field("count", count, "remove this many blocks, those whose removal raises the calib loss least",
          Spec::at_least(0));
  v.field("batches", batches, "batches of data.calib measured per candidate (with count)", Spec::range(1, 100000));
}

void BlockPruneOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  const bool has_blocks = !blocks.is_null();
  if (has_blocks == (count > 0))
    diag.error(node.loc(), has_blocks ? "prune_blocks: give either `blocks` or `count`, not both"
                                      : "prune_blocks needs `blocks: [scope glob, ...]` (e.g. [layer1.0]) or "
                                        "`count: N` (remove the N least important blocks, measured on data.calib)");
  pipeline::parse_scope_globs(blocks, "prune_blocks.blocks", diag);
  if (has_blocks && blocks.is_seq() && blocks.items().empty())
    diag.error(blocks.loc(), "'prune_blocks.blocks' is empty: list at least one block scope, e.g. [layer1.0]");
}

namespace {

std::string scopes_of(const std::vector<ResidualBlock>& c) {
  std::string s;
  for (const ResidualBlock& b : c) s += (s.empty() ? "" : ", ") + b.scope;
  return s.empty() ? "(none)" : s;
}

}  // namespace

void BlockPrune::run(pipeline::RunContext& ctx) {
  recipe::Diagnostics diag;
  const std::vector<pipeline::ScopeGlob> globs =
      pipeline::parse_scope_globs(options_.blocks, "prune_blocks.blocks", diag);
  diag.throw_if_any();
  const std::vector<ResidualBlock> candidates = find_residual_blocks(ctx.model);
  const std::string none_hint =
      " (a block is removable when its shortcut is the identity: same shape in and out, no projection conv)";
  if (candidates.empty())
    throw InputError("prune_blocks: the model has no removable residual block" + none_hint);

  nlohmann::json table = nlohmann::json::array();
  std::vector<double> increase(candidates.size(), 0.0);
  std::vector<size_t> chosen;
  if (options_.count > 0) {
    if (options_.count > static_cast<int64_t>(candidates.size()))
      throw InputError("prune_blocks: count " + std::to_string(options_.count) + " but the model has only " +
                       std::to_string(candidates.size()) + " removable blocks: " + scopes_of(candidates));
    auto loader = ctx.data.loader("calib", false);
    ir::Model base = ctx.model.clone();
    const double loss0 = train::evaluate(base, *loader, options_.batches).loss;
    for (size_t i = 0; i < candidates.size(); ++i) {
      ir::Model m = ctx.model.clone();
      remove_residual_block(m, candidates[i]);
      increase[i] = train::evaluate(m, *loader, options_.batches).loss - loss0;
      spdlog::info("prune_blocks: without {} the calib loss rises by {:+.4f}", candidates[i].scope, increase[i]);
    }
    std::vector<size_t> order(candidates.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return increase[a] < increase[b]; });
    chosen.assign(order.begin(), order.begin() + options_.count);
  } else {
    std::vector<std::string> scopes;
    for (const ResidualBlock& b : candidates) scopes.push_back(b.scope);
    pipeline::require_matches(globs, scopes, "prune_blocks", "blocks", "removable residual block", none_hint);
    for (const pipeline::ScopeGlob& g : globs)
      for (size_t i = 0; i < candidates.size(); ++i)
        if (g.matches(candidates[i].scope) && std::find(chosen.begin(), chosen.end(), i) == chosen.end())
          chosen.push_back(i);
  }

  const int64_t macs0 = model_macs(ctx.model), params0 = ctx.model.num_params();
  nlohmann::json removed = nlohmann::json::array();
  for (size_t i = 0; i < candidates.size(); ++i) {
    nlohmann::json row = {{"block", candidates[i].scope}, {"macs", candidates[i].macs},
                          {"params", candidates[i].params}, {"nodes", candidates[i].nodes},
                          {"removed", std::find(chosen.begin(), chosen.end(), i) != chosen.end()}};
    if (options_.count > 0) row["calib_loss_increase"] = increase[i];
    table.push_back(row);
  }
  for (size_t i : chosen) {
    remove_residual_block(ctx.model, candidates[i]);
    removed.push_back(candidates[i].scope);
  }
  const int64_t macs1 = model_macs(ctx.model), params1 = ctx.model.num_params();
  spdlog::info("prune_blocks: removed {} of {} residual blocks ({}), MACs {} -> {} (-{:.1f}%), params {} -> {}",
               chosen.size(), candidates.size(), removed.dump(), macs0, macs1,
               100.0 * (1.0 - static_cast<double>(macs1) / std::max<int64_t>(macs0, 1)), params0, params1);
  ctx.details["candidates"] = table;
  ctx.details["removed"] = removed;
  ctx.details["macs_before"] = macs0;
  ctx.details["macs_after"] = macs1;
  ctx.details["params_before"] = params0;
  ctx.details["params_after"] = params1;
}

}  // namespace mc::prune
