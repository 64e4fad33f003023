#include "ir/weight_param.h"

namespace mc::ir {

namespace {
/// A matmul operand counts as a weight when it is 2-d (or its shape is not inferred yet).
bool two_dimensional(const Node* p) {
  return p && (!p->output()->type().has_shape || p->output()->shape().size() == 2);
}
}  // namespace

const Node* param_producer(const Value* v) {
  const Node* p = v->producer();
  if (p && p->op() == "fake_quant" && !p->inputs().empty()) p = p->input(0)->producer();
  return p && p->op() == "param" ? p : nullptr;
}

const Node* weight_param(const Node& layer) {
  const std::string& op = layer.op();
  if ((op == "conv2d" || op == "linear") && layer.inputs().size() >= 2) return param_producer(layer.input(1));
  if (op != "matmul" || layer.inputs().size() != 2) return nullptr;
  // x @ W (W: K x N) or W @ x (W: O x I).
  const Node* p = param_producer(layer.input(1));
  if (!p) p = param_producer(layer.input(0));
  return two_dimensional(p) ? p : nullptr;
}

}  // namespace mc::ir
