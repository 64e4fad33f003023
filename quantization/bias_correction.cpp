#include "quantization/bias_correction.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/passes/pass_util.h"
#include "runtime/executor.h"

namespace mc::quant {

at::Tensor weight_error_mean(const ir::Node& layer, const at::Tensor& x, const at::Tensor& e) {
  if (layer.op() == "conv2d") {
    const auto& a = layer.attrs();
    at::Tensor y = at::conv2d(x, e, {}, a.is("stride", {1, 1}), a.is("padding", {0, 0}), a.is("dilation", {1, 1}),
                              a.i("groups", 1));
    return y.transpose(0, 1).flatten(1).to(at::kDouble).mean(1);
  }
  at::Tensor y = at::matmul(x, e.t());
  return y.flatten(0, -2).to(at::kDouble).mean(0);
}

BiasCorrectionSummary correct_bias(ir::Model& m, const QuantPlan& plan, data::DataLoader& loader, int64_t max_samples) {
  struct Layer {
    ir::Node* node;
    at::Tensor error;  // W_q - W
    at::Tensor sum;    // sum over batches of the per-channel mean, weighted by batch size
    int64_t n = 0;
  };
  std::vector<Layer> layers;
  for (auto& w : plan.weights) {
    ir::Value* out = m.graph.find_value(w.layer);
    if (!out || !out->producer()) continue;
    ir::Node* node = out->producer();
    if (node->op() != "conv2d" && node->op() != "linear") continue;
    at::Tensor wq = ir::passes::static_value(m, node->input(1));
    if (!wq.defined()) continue;
    layers.push_back({node, (wq - m.tensor(w.tensor)).detach(), at::Tensor(), 0});
  }
  BiasCorrectionSummary s;
  if (layers.empty()) return s;
  runtime::Executor ex(m);
  for (auto& l : layers) {
    Layer* lp = &l;
    ex.add_hook(l.node->input(0)->name(), [lp](const ir::Value&, const at::Tensor& x) {
      at::Tensor mean = weight_error_mean(*lp->node, x, lp->error) * static_cast<double>(x.size(0));
      lp->sum = lp->sum.defined() ? lp->sum + mean : mean;
      lp->n += x.size(0);
    });
  }
  loader.reset(0);
  data::Batch b;
  int64_t seen = 0;
  while ((max_samples <= 0 || seen < max_samples) && loader.next(b)) {
    if (max_samples > 0 && seen + b.images.size(0) > max_samples) b = b.first(max_samples - seen);
    ex.run(b.inputs());
    seen += b.images.size(0);
  }
  if (seen == 0) throw InputError("bias correction: the calib split has no samples");
  for (auto& l : layers) {
    if (!l.sum.defined()) continue;
    at::Tensor shift = l.sum / static_cast<double>(l.n);
    at::Tensor bias;
    if (l.node->inputs().size() > 2) bias = ir::passes::static_value(m, l.node->input(2));
    if (!bias.defined()) bias = at::zeros({shift.size(0)}, at::kFloat);
    at::Tensor nb = (bias.to(at::kDouble) - shift).to(at::kFloat);
    ir::passes::set_layer_params(m, l.node, at::Tensor(), nb);
    s.layers.push_back(l.node->scope());
  }
  m.infer_shapes();
  m.verify();
  return s;
}

}  // namespace mc::quant
