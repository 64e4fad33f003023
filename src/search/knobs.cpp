#include "search/knobs.h"

#include <set>

#include "pipeline/layer_select.h"

namespace mc::search {
namespace {

recipe::ConfigNode yaml(const std::string& text) { return recipe::parse_yaml(text, "<auto knob>"); }

std::vector<std::string> weight_layers(const ir::Model& model) {
  return pipeline::scopes_of(pipeline::find_weight_layers(model));
}

// Residual-block candidates: for each weight layer, its nearest ancestor scope holding two or more
// weight layers (layer1.0 for layer1.0.conv1 and for layer1.0.downsample.0). prune_blocks itself
// decides which of them it can remove (identity shortcut); the sweep drops the others.
std::vector<std::string> block_targets(const ir::Model& model) {
  const std::vector<std::string> layers = weight_layers(model);
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& l : layers) {
    std::string p = l;
    while (true) {
      const size_t dot = p.rfind('.');
      if (dot == std::string::npos) break;
      p = p.substr(0, dot);
      int n = 0;
      for (const std::string& o : layers) n += within(o, p);
      if (n >= 2) {
        if (seen.insert(p).second) out.push_back(p);
        break;
      }
    }
  }
  return out;
}

// `exclude: [...]` of every present layer that is not chosen.
std::string exclude_others(const std::set<std::string>& chosen, const std::vector<std::string>& present) {
  std::string s;
  for (const std::string& l : present)
    if (!chosen.count(l)) s += (s.empty() ? "" : ", ") + yaml_quote(l);
  return "[" + s + "]";
}

// Choices grouped by setting, each group with the layers that are present.
std::map<std::string, std::set<std::string>> by_setting(const std::map<std::string, std::string>& choices,
                                                        const std::vector<std::string>& present) {
  const std::set<std::string> here(present.begin(), present.end());
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [layer, setting] : choices)
    if (here.count(layer)) out[setting].insert(layer);
  return out;
}

std::vector<StageText> prune_blocks_stages(const std::map<std::string, std::string>& choices,
                                           const std::vector<std::string>&, const AutoOptions&) {
  if (choices.empty()) return {};
  std::string blocks;
  for (const auto& c : choices) blocks += (blocks.empty() ? "" : ", ") + yaml_quote(c.first);
  return {{"prune_blocks", yaml("{blocks: [" + blocks + "]}")}};
}

// One prune_channels stage per ratio, excluding every other layer: a channel group is pruned only
// when none of the layers producing it is excluded, so a choice prunes what that layer owns alone.
std::vector<StageText> prune_channels_stages(const std::map<std::string, std::string>& choices,
                                             const std::vector<std::string>& present, const AutoOptions& options) {
  std::vector<StageText> out;
  for (const auto& [ratio, layers] : by_setting(choices, present))
    out.push_back({"prune_channels", yaml("{criterion: l1, ratio: " + ratio + ", target: channels, round_to: " +
                                          std::to_string(options.round_channels) + ", exclude: " +
                                          exclude_others(layers, present) + "}")});
  return out;
}

std::string layer_map(const std::map<std::string, std::set<std::string>>& groups,
                      const std::function<std::string(const std::string&)>& value) {
  std::string s;
  for (const auto& [setting, layers] : groups)
    for (const std::string& l : layers) s += (s.empty() ? "" : ", ") + yaml_quote(l) + ": " + value(setting);
  return "{" + s + "}";
}

std::set<std::string> all_of(const std::map<std::string, std::set<std::string>>& groups) {
  std::set<std::string> s;
  for (const auto& g : groups) s.insert(g.second.begin(), g.second.end());
  return s;
}

// One decompose stage per rank ratio (Tucker-2 for convs, SVD for linear layers), every other layer excluded.
std::vector<StageText> decompose_stages(const std::map<std::string, std::string>& choices,
                                        const std::vector<std::string>& present, const AutoOptions&) {
  std::vector<StageText> out;
  for (const auto& [ratio, layers] : by_setting(choices, present))
    out.push_back({"decompose", yaml("{method: tucker2, rank_ratio: " + ratio + ", exclude: " +
                                     exclude_others(layers, present) + "}")});
  return out;
}

// One cluster stage per index width, every other layer excluded.
std::vector<StageText> cluster_stages(const std::map<std::string, std::string>& choices,
                                      const std::vector<std::string>& present, const AutoOptions&) {
  std::vector<StageText> out;
  for (const auto& [bits, layers] : by_setting(choices, present))
    out.push_back({"cluster", yaml("{bits: " + bits + ", exclude: " + exclude_others(layers, present) + "}")});
  return out;
}

// INT8 post-training quantization of the chosen layers (the others stay float), for ONNX Runtime on
// x86 (recipes/resnet8_demo.yaml): per-channel symmetric int8 weights on the 7-bit grid its U8S8
// kernels do not saturate on CPUs without VNNI, affine uint8 min-max activations (with symmetric
// int8 activations ONNX Runtime keeps every ReLU in float between DequantizeLinear and
// QuantizeLinear: no faster than float there); narrower settings as per-layer weight bits.
std::vector<StageText> quantize_stages(const std::map<std::string, std::string>& choices,
                                       const std::vector<std::string>& present, const AutoOptions& options) {
  const auto groups = by_setting(choices, present);
  if (groups.empty()) return {};
  std::map<std::string, std::set<std::string>> narrow;
  for (const auto& g : groups)
    if (g.first != "8") narrow.insert(g);
  return {{"quantize",
           yaml("{mode: ptq, weights: {bits: 8, qscheme: per_channel_symmetric, dtype: qint8, reduce_range: true}, "
                "activations: {bits: 8, qscheme: per_tensor_affine, dtype: quint8, observer: minmax}, layers: " +
                layer_map(narrow, [](const std::string& b) { return "{weights: {bits: " + b + "}}"; }) +
                ", exclude: " + exclude_others(all_of(groups), present) + "}")}};
}

}  // namespace

std::string yaml_quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

bool within(const std::string& layer, const std::string& block) {
  return layer == block || (layer.size() > block.size() && layer.compare(0, block.size(), block) == 0 &&
                            layer[block.size()] == '.');
}

const std::vector<Knob>& knob_table() {
  static const std::vector<Knob> table = [] {
    std::vector<Knob> t;
    t.push_back({"prune_blocks", "prune_blocks", 10, {"remove"}, block_targets, prune_blocks_stages, false, true});
    t.push_back({"prune_channels", "prune_channels", 20, {"0.25", "0.5", "0.75"}, weight_layers, prune_channels_stages,
                 false, false});
    t.push_back({"decompose", "decompose", 30, {"0.5", "0.25"}, weight_layers, decompose_stages, false, false});
    t.push_back({"cluster", "cluster", 40, {"4", "2"}, weight_layers, cluster_stages, false, false});
    t.push_back({"quantize", "quantize", 60, {"8", "4"}, weight_layers, quantize_stages, true, false});
    return t;
  }();
  return table;
}

const Knob* find_knob(const std::string& name) {
  for (const Knob& k : knob_table())
    if (k.name == name) return &k;
  return nullptr;
}

}  // namespace mc::search
