#include "quantization/dynamic_quant.h"

#include <map>

namespace mc::quant {

DynamicQuantSummary quantize_dynamic(ir::Model& m, const QuantConfig& cfg) {
  QuantPlan plan = plan_qdq(m, cfg);
  plan.activations.clear();
  std::vector<WeightQuantizer> kept;
  for (auto& w : plan.weights) {
    const ir::Value* out = m.graph.find_value(w.layer);
    const std::string& op = out->producer()->op();
    if (op == "linear" || op == "matmul") kept.push_back(w);
  }
  plan.weights = kept;
  insert_qdq(m, plan, {});
  DynamicQuantSummary s;
  s.weights = std::move(kept);
  ir::Graph& g = m.graph;
  std::map<const ir::Value*, ir::Value*> quantized;  // float activation -> its dynamic_quant output
  for (const WeightQuantizer& w : s.weights) {
    ir::Node* layer = g.find_value(w.layer)->producer();
    ir::Value* x = layer->input(0);
    auto it = quantized.find(x);
    if (it == quantized.end()) {
      ir::Node* pos = x->producer() ? x->producer() : g.first_node();
      ir::Node* dq = x->producer() ? g.insert_after(pos, "dynamic_quant", {x}, {}, layer->scope())
                                   : g.insert_before(pos, "dynamic_quant", {x}, {}, layer->scope());
      it = quantized.emplace(x, dq->output()).first;
      ++s.activation_quantizers;
    }
    g.set_input(layer, 0, it->second);
  }
  m.infer_shapes();
  m.verify();
  return s;
}

}  // namespace mc::quant
