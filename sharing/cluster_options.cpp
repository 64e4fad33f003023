#include "sharing/cluster_options.h"

#include "recipe/read_map.h"

namespace mc::share {

using recipe::Spec;

void CodebookSize::visit(recipe::Visitor& v) {
  // The echo writes only the key that was given, so that it validates again.
  const bool echo = recipe::is_writer(v);
  if (!echo || bits > 0) v.field("bits", bits, "index bits: a codebook of 2^bits entries, 1..8 (or give k)");
  if (!echo || k > 0) v.field("k", k, "codebook entries, 2..256 (or give bits)");
}

int64_t CodebookSize::check(const recipe::ConfigNode& node, const std::string& what, recipe::Diagnostics& diag) const {
  const recipe::ConfigNode* b = node.find("bits");
  const recipe::ConfigNode* n = node.find("k");
  if (b && n) {
    diag.error(node.key_loc("k"), what + ": give one of bits or k, not both (bits: b means k = 2^b)");
    return 0;
  }
  if (b) {
    if (bits < 1 || bits > 8) {
      diag.error(b->loc(), what + ".bits must be in 1..8 (a codebook of 2^bits entries), got " + std::to_string(bits));
      return 0;
    }
    return int64_t{1} << bits;
  }
  if (n) {
    if (k < 2 || k > 256) {
      diag.error(n->loc(), what + ".k must be in 2..256 (codebook entries; an index fits in 8 bits), got " +
                               std::to_string(k));
      return 0;
    }
    return k;
  }
  return 0;
}

void ClusterOptions::visit(recipe::Visitor& v) {
  size.visit(v);
  v.field("init", init, "centroid initialisation (Han et al.: linear is the most accurate)",
          Spec::one_of({"linear", "density", "kmeans++"}));
  v.field("per_channel", per_channel, "one codebook per output channel instead of one per layer");
  v.field("iters", iters, "Lloyd iterations at most (stops when no assignment changes)", Spec::range(1, 10000));
  v.field("layers", layers, "per-layer codebook sizes {scope glob: {bits | k}}, later entries win");
  v.field("exclude", exclude, "scope globs of layers left unclustered");
}

namespace {
bool parse_layer_entry(const pipeline::ScopeGlob& glob, const recipe::ConfigNode& value, LayerK& out,
                       recipe::Diagnostics& diag) {
  const std::string what = "cluster.layers." + glob.pattern;
  CodebookSize s;
  if (!recipe::read_map(value, what, "{bits: 2} or {k: 32}", diag, s)) return false;
  out.where = value.loc();
  out.k = s.check(value, what, diag);
  if (out.k == 0 && !value.find("bits") && !value.find("k"))
    diag.error(value.loc(), what + " needs bits or k, e.g. {bits: 2}");
  return out.k > 0;
}
}  // namespace

void ClusterOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  parsed_k = size.check(node, "cluster", diag);
  if (!node.find("bits") && !node.find("k"))
    diag.error(node.loc(), "cluster needs the codebook size: bits (1..8) or k (2..256), e.g. bits: 4");
  const pipeline::GlobEntryParser<LayerK> parse = parse_layer_entry;
  parsed_layers = pipeline::parse_glob_map<LayerK>(layers, "cluster.layers", diag, parse, "{\"layer3.*\": {bits: 2}}");
  parsed_exclude = pipeline::parse_scope_globs(exclude, "cluster.exclude", diag);
}

ClusterOptions parse_cluster_options(const recipe::ConfigNode& node, recipe::Diagnostics& diag,
                                     const std::string& context) {
  ClusterOptions o;
  recipe::Reader r(&node, diag, context);
  o.visit(r);
  r.finish();
  o.validate(node, diag);
  return o;
}

}  // namespace mc::share
