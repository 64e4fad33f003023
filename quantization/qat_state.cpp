// QatModifier's state as JSON, for the run directory's pending modifiers (--resume).
#include <nlohmann/json.hpp>

#include "quantization/qat.h"

namespace mc::quant {

namespace {

using nlohmann::json;

json spec_json(const QuantSpec& s) {
  return {{"bits", s.bits},       {"qscheme", s.qscheme}, {"dtype", s.dtype},   {"quant_min", s.quant_min},
          {"quant_max", s.quant_max}, {"reduce_range", s.reduce_range}, {"eps", s.eps}, {"ch_axis", s.ch_axis},
          {"type", s.type},       {"threshold", s.threshold}};
}

QuantSpec spec_from(const json& j) {
  QuantSpec s;
  s.bits = j.at("bits").get<int64_t>();
  s.qscheme = j.at("qscheme").get<std::string>();
  s.dtype = j.at("dtype").get<std::string>();
  s.quant_min = j.at("quant_min").get<int64_t>();
  s.quant_max = j.at("quant_max").get<int64_t>();
  s.reduce_range = j.at("reduce_range").get<bool>();
  s.eps = j.at("eps").get<double>();
  s.ch_axis = j.at("ch_axis").get<int64_t>();
  s.type = j.at("type").get<std::string>();
  s.threshold = j.at("threshold").get<double>();
  return s;
}

json options_json(const QatOptions& o) {
  return {{"learn_scale", o.learn_scale},
          {"fold_batch_norm", o.fold_batch_norm},
          {"freeze_bn_epoch", o.freeze_bn_epoch},
          {"freeze_observers_epoch", o.freeze_observers_epoch},
          {"averaging_constant", o.averaging_constant},
          {"context", o.context}};
}

QatOptions options_from(const json& j) {
  QatOptions o;
  o.learn_scale = j.at("learn_scale").get<bool>();
  o.fold_batch_norm = j.at("fold_batch_norm").get<bool>();
  o.freeze_bn_epoch = j.at("freeze_bn_epoch").get<int64_t>();
  o.freeze_observers_epoch = j.at("freeze_observers_epoch").get<int64_t>();
  o.averaging_constant = j.at("averaging_constant").get<double>();
  o.context = j.at("context").get<std::string>();
  return o;
}

}  // namespace

json qat_state_json(const QatState& st) {
  json quantizers = json::array();
  for (const auto& q : st.quantizers)
    quantizers.push_back({{"name", q.name},
                          {"values", q.values},
                          {"scale", q.scale},
                          {"zero_point", q.zero_point},
                          {"spec", spec_json(q.spec)},
                          {"weight", q.weight}});
  json ranges = json::object();
  for (const auto& [name, r] : st.initial_ranges) ranges[name] = {r.first, r.second};
  return {{"options", options_json(st.options)},
          {"quantizers", quantizers},
          {"initial_ranges", ranges},
          {"folded_batch_norms", st.folded_batch_norms},
          {"binary_weights", st.binary_weights},
          {"ternary_weights", st.ternary_weights}};
}

QatState qat_state_from_json(const json& j) {
  QatState st;
  st.options = options_from(j.at("options"));
  for (const auto& q : j.at("quantizers"))
    st.quantizers.push_back({q.at("name").get<std::string>(), q.at("values").get<std::vector<std::string>>(),
                             q.at("scale").get<std::string>(), q.at("zero_point").get<std::string>(), spec_from(q.at("spec")),
                             q.at("weight").get<bool>()});
  for (const auto& [name, r] : j.at("initial_ranges").items())
    st.initial_ranges[name] = {r.at(0).get<double>(), r.at(1).get<double>()};
  st.folded_batch_norms = j.at("folded_batch_norms").get<int64_t>();
  st.binary_weights = j.at("binary_weights").get<int64_t>();
  st.ternary_weights = j.at("ternary_weights").get<int64_t>();
  return st;
}

std::optional<train::ModifierState> QatModifier::pending_state() const {
  train::ModifierState s;
  s.kind = "qat";
  s.settings = qat_state_json(state_);
  return s;
}

std::shared_ptr<QatModifier> QatModifier::from_state(const train::ModifierState& state) {
  return std::make_shared<QatModifier>(qat_state_from_json(state.settings));
}

}  // namespace mc::quant
