#include "sharing/share_options.h"

#include "recipe/read_map.h"

namespace mc::share {

using recipe::Spec;

void ShareSize::visit(recipe::Visitor& v) {
  // The echo writes only the keys that were given, so that it validates again.
  const bool echo = recipe::is_writer(v);
  if (!echo || k > 0) v.field("k", k, "hashed: stored values per layer, >= 1 (or give ratio)");
  if (!echo || ratio > 0) v.field("ratio", ratio, "hashed: compression factor, K = ceil(out * in / ratio), >= 1");
  if (!echo || block > 0) v.field("block", block, "circulant: block size b >= 2 (b x b blocks of b values each)");
}

bool ShareSize::check(const recipe::ConfigNode& node, const std::string& method, const std::string& what,
                      recipe::Diagnostics& diag) const {
  const recipe::ConfigNode* nk = node.find("k");
  const recipe::ConfigNode* nr = node.find("ratio");
  const recipe::ConfigNode* nb = node.find("block");
  const size_t before = diag.errors().size();
  if (method == "hashed") {
    if (nb) diag.error(nb->loc(), what + ".block is for method: circulant; hashed takes k or ratio");
    if (nk && nr) diag.error(node.key_loc("ratio"), what + ": give one of k or ratio, not both");
    if (nk && k < 1) diag.error(nk->loc(), what + ".k must be >= 1 (stored values), got " + std::to_string(k));
    if (nr && !(ratio >= 1))
      diag.error(nr->loc(), what + ".ratio must be >= 1 (virtual weights per stored value), got " + nr->value());
  } else {
    if (nk || nr)
      diag.error((nk ? nk : nr)->loc(), what + "." + (nk ? "k" : "ratio") +
                                            " is for method: hashed; circulant takes block (its K is set by it)");
    if (nb && block < 2) diag.error(nb->loc(), what + ".block must be >= 2, got " + std::to_string(block));
  }
  return diag.errors().size() == before;
}

void ShareOptions::visit(recipe::Visitor& v) {
  v.field("method", method, "hashed (HashedNets, Chen et al. 2015) or circulant (block-circulant, Cheng et al. 2015)",
          Spec::one_of({"hashed", "circulant"}));
  size.visit(v);
  v.field("seed", seed, "hashed: layer n (0-based, graph order) hashes with seed + n", Spec::at_least(0));
  v.field("layers", layers, "per-layer sizes {scope glob: {k | ratio | block}}, later entries win");
  v.field("exclude", exclude, "scope globs of linear layers left dense");
}

void ShareOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  if (method != "hashed" && method != "circulant") return;  // the Reader reported it
  size.check(node, method, "share", diag);
  const bool hashed = method == "hashed";
  if (!node.find("k") && !node.find("ratio") && !node.find("block") && !node.find("layers"))
    diag.error(node.loc(), hashed ? "share: method hashed needs k or ratio, e.g. ratio: 8"
                                  : "share: method circulant needs block, e.g. block: 16");
  const std::string m = method;
  const pipeline::GlobEntryParser<LayerShare> parse = [m](const pipeline::ScopeGlob& glob,
                                                          const recipe::ConfigNode& value, LayerShare& out,
                                                          recipe::Diagnostics& d) {
    const std::string what = "share.layers." + glob.pattern;
    const std::string example = m == "hashed" ? "{ratio: 16} or {k: 1000}" : "{block: 8}";
    if (!recipe::read_map(value, what, example, d, out.size)) return false;
    out.where = value.loc();
    if (!out.size.check(value, m, what, d)) return false;
    if (!out.size.given()) {
      d.error(value.loc(), what + " needs " + (m == "hashed" ? "k or ratio" : "block") + ", e.g. " + example);
      return false;
    }
    return true;
  };
  parsed_layers = pipeline::parse_glob_map<LayerShare>(layers, "share.layers", diag, parse,
                                                       hashed ? "{fc1: {ratio: 16}}" : "{fc1: {block: 8}}");
  parsed_exclude = pipeline::parse_scope_globs(exclude, "share.exclude", diag);
}

ShareOptions parse_share_options(const recipe::ConfigNode& node, recipe::Diagnostics& diag, const std::string& context) {
  ShareOptions o;
  recipe::Reader r(&node, diag, context);
  o.visit(r);
  r.finish();
  o.validate(node, diag);
  return o;
}

}  // namespace mc::share
