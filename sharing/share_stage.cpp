#include "sharing/share_stage.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "ir/passes/pass_util.h"

namespace mc::share {

namespace {

// A `layers:` glob matching no linear layer: when it matches conv2d / matmul layers, say that share
// takes linear layers only; else the usual "matches nothing" error.
void check_layer_globs(const ShareOptions& o, const std::vector<pipeline::WeightLayer>& all,
                       const std::vector<pipeline::WeightLayer>& chosen) {
  for (const auto& e : o.parsed_layers) {
    bool linear = false;
    std::string other;
    for (const auto& l : chosen) linear = linear || e.glob.matches(l.scope);
    for (const auto& l : all)
      if (l.op != "linear" && e.glob.matches(l.scope) && other.empty()) other = l.scope + " (" + l.op + ")";
    if (linear) continue;
    if (!other.empty())
      throw InputError(e.glob.loc.prefix() + "share: layers glob '" + e.glob.pattern + "' matches " + other +
                       "; share applies to linear layers only (hashed and circulant weights of conv kernels are not "
                       "supported). Fix the glob or remove it");
    pipeline::throw_glob_matches_nothing(e.glob, "share", "layers", "linear layer", pipeline::scopes_of(chosen),
                                         " (Layers matched by `exclude` are not shared.)");
  }
}

ir::SharingSpec spec_for(const ShareOptions& o, const ShareSize& size, const recipe::Location& at,
                         const pipeline::WeightLayer& l, const at::Tensor& w, int64_t position) {
  ir::SharingSpec s;
  s.method = o.method;
  s.out = w.size(0);
  s.in = w.size(1);
  const int64_t n = s.out * s.in;
  const std::string where = at.prefix() + "share: layer '" + l.scope + "' [" + std::to_string(s.out) + ", " +
                            std::to_string(s.in) + "]";
  if (o.method == "hashed") {
    s.seed = o.seed + position;
    s.k = size.k > 0 ? size.k : static_cast<int64_t>(std::ceil(static_cast<double>(n) / size.ratio));
    if (s.k > n)
      throw InputError(where + ": k " + std::to_string(s.k) + " is more than its " + std::to_string(n) +
                       " weights; give k <= " + std::to_string(n) + " or exclude the layer");
  } else {
    s.block = size.block;
    if (s.block > std::min(s.out, s.in))
      throw InputError(where + ": block " + std::to_string(s.block) + " is larger than the layer (at most " +
                       std::to_string(std::min(s.out, s.in)) + " = min(out, in)); give a smaller block or exclude "
                       "the layer");
    s.k = ir::circulant_size(s.out, s.in, s.block);
  }
  ir::check_sharing_spec(s);
  return s;
}

}  // namespace

std::vector<PlannedShare> plan_shares(const ir::Model& model, const ShareOptions& o, const recipe::Location& where) {
  const std::vector<pipeline::WeightLayer> all = pipeline::find_weight_layers(model);
  std::vector<pipeline::WeightLayer> linear;
  for (const auto& l : all)
    if (l.op == "linear") linear.push_back(l);
  if (linear.empty())
    throw InputError(where.prefix() + "share: the model has no linear layer with a stored weight (share applies "
                                      "to linear layers only)");
  const auto chosen = pipeline::select_layers(linear, {}, o.parsed_exclude, "share", "linear layer");
  check_layer_globs(o, all, chosen);
  std::vector<PlannedShare> out;
  for (const auto& l : chosen) {
    const ir::Node* p = nullptr;
    for (const ir::Node* n : model.graph.nodes())
      if (n->op() == "linear" && ir::weight_param(*n) && ir::weight_param(*n)->attrs().s("name") == l.param) {
        p = n->input(1)->producer();
        break;
      }
    if (!p || p->op() != "param")
      throw InputError(where.prefix() + "share: layer '" + l.scope + "' has a quantized weight ('" + l.param +
                       "' behind " + (p ? p->op() : std::string("?")) + "); share before `quantize`, or exclude it");
    const at::Tensor& w = model.tensor(l.param);
    if (w.scalar_type() != at::kFloat)
      throw InputError(where.prefix() + "share: layer '" + l.scope + "' has a weight that is not float32");
    const int i = pipeline::last_match(o.parsed_layers, l.scope);
    const ShareSize& size = i >= 0 ? o.parsed_layers[static_cast<size_t>(i)].value.size : o.size;
    const recipe::Location& at = i >= 0 ? o.parsed_layers[static_cast<size_t>(i)].value.where : where;
    if (!size.given())
      throw InputError(where.prefix() + "share: layer '" + l.scope + "' has no size: no `layers:` entry matches it "
                       "and the stage gives none; add " + (o.method == "hashed" ? "k or ratio" : "block") +
                       " to the stage or exclude the layer");
    const int64_t position = std::find_if(linear.begin(), linear.end(),
                                          [&](const auto& x) { return x.param == l.param; }) - linear.begin();
    out.push_back({l, spec_for(o, size, at, l, w, position)});
  }
  return out;
}

nlohmann::json apply_share(ir::Model& model, const PlannedShare& p) {
  ir::Node* layer = nullptr;
  for (ir::Node* n : model.graph.nodes())
    if (n->op() == "linear" && ir::weight_param(*n) && ir::weight_param(*n)->attrs().s("name") == p.layer.param)
      layer = n;  // every reader of the weight is rewritten below
  if (!layer) throw Error("share: layer '" + p.layer.scope + "' not found");
  const at::Tensor dense = model.tensor(p.layer.param).detach().clone();
  const at::Tensor w = ir::project_onto_shared(dense, p.spec);
  const at::Tensor v = ir::expand_shared(w, p.spec).to(at::kDouble);
  const double norm = dense.to(at::kDouble).norm().item<double>();
  const double rel = norm > 0 ? (dense.to(at::kDouble) - v).norm().item<double>() / norm : 0.0;

  ir::Value* old = layer->input(1);
  ir::Node* old_param = old->producer();
  ir::Value* wv = ir::passes::insert_param(model, old_param, p.layer.param + ".shared", w, old_param->scope());
  ir::Attrs attrs;
  attrs.set("method", p.spec.method);
  attrs.set("out", p.spec.out);
  attrs.set("in", p.spec.in);
  attrs.set("k", p.spec.k);
  if (p.spec.method == "hashed") attrs.set("seed", p.spec.seed);
  else attrs.set("block", p.spec.block);
  ir::Node* sw = model.graph.insert_after(wv->producer(), "shared_weight", {wv}, std::move(attrs), old_param->scope());
  ir::passes::infer_node_types(*sw);
  model.graph.replace_all_uses(old, sw->output());
  ir::passes::remove_dead_producers(model, old);

  nlohmann::json row{{"scope", p.layer.scope}, {"param", wv->producer()->attrs().s("name")}, {"method", p.spec.method},
                     {"virtual_weights", p.spec.out * p.spec.in}, {"stored_values", p.spec.k},
                     {"ratio", static_cast<double>(p.spec.out * p.spec.in) / static_cast<double>(p.spec.k)},
                     {"projection_rel_error", rel}};
  if (p.spec.method == "hashed") row["seed"] = p.spec.seed;
  else row["block"] = p.spec.block;
  return row;
}

void ShareStage::check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics&) const {
  where_ = recipe.stages.at(index).loc;
}

void ShareStage::check_model(const ir::Model& model, recipe::Diagnostics&) const { plan_shares(model, options_, where_); }

void ShareStage::run(pipeline::RunContext& ctx) {
  const std::vector<PlannedShare> plan = plan_shares(ctx.model, options_, where_);
  std::vector<pipeline::StoredLayerRef> refs;
  for (const auto& p : plan) refs.push_back({p.layer.scope, p.layer.param});
  pipeline::refuse_stored_layers(ctx.storage_bits, refs, where_.prefix(), "share",
                                 "share before `cluster` / `quantize`");
  nlohmann::json rows = nlohmann::json::array();
  int64_t virt = 0, stored = 0;
  for (const auto& p : plan) {
    rows.push_back(apply_share(ctx.model, p));
    const auto& r = rows.back();
    virt += r["virtual_weights"].get<int64_t>();
    stored += r["stored_values"].get<int64_t>();
    spdlog::info("share: {:<24} {} [{}, {}] -> {} values ({:.1f}x), projection rel. error {:.4f}", p.layer.scope,
                 p.spec.method, p.spec.out, p.spec.in, p.spec.k, r["ratio"].get<double>(),
                 r["projection_rel_error"].get<double>());
  }
  ctx.details["method"] = options_.method;
  ctx.details["layers"] = rows;
  ctx.details["layers_shared"] = plan.size();
  ctx.details["virtual_weights"] = virt;
  ctx.details["stored_values"] = stored;
  spdlog::info("share: {} layers, {} virtual weights -> {} stored values ({:.1f}x)", plan.size(), virt, stored,
               static_cast<double>(virt) / static_cast<double>(std::max<int64_t>(stored, 1)));
}

}  // namespace mc::share
