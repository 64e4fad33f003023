#include "runtime/random_inputs.h"

#include <ATen/ATen.h>

#include <limits>

#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::runtime {

int64_t integer_input_bound(const ir::Model& model, size_t input) {
  const ir::Value* v = model.graph.inputs().at(input);
  if (at::isFloatingType(ir::ops::to_scalar_type(v->type().dtype))) return 0;
  int64_t rows = std::numeric_limits<int64_t>::max();
  for (const ir::Node* n : v->users())
    if (n->op() == "embedding" && n->input(0) == v && n->input(1)->type().has_shape && !n->input(1)->shape().empty())
      rows = std::min(rows, n->input(1)->shape()[0]);
  return rows == std::numeric_limits<int64_t>::max() ? 2 : rows;
}

std::vector<at::Tensor> random_inputs(const ir::Model& model, int64_t batch, const c10::Device& device) {
  std::vector<at::Tensor> inputs;
  for (size_t i = 0; i < model.graph.inputs().size(); ++i) {
    const ir::Value* in = model.graph.inputs()[i];
    if (!in->type().has_shape || in->shape().empty())
      throw InputError("input '" + in->name() + "' has no static shape (declare the model's input shape)");
    ir::Shape shape = model.input_shape(i, batch);
    auto opts = at::TensorOptions().dtype(ir::ops::to_scalar_type(in->type().dtype)).device(device);
    if (at::isFloatingType(opts.dtype().toScalarType()))
      inputs.push_back(at::randn(shape, opts));
    else
      inputs.push_back(at::randint(integer_input_bound(model, i), shape, opts));
  }
  return inputs;
}

}  // namespace mc::runtime
