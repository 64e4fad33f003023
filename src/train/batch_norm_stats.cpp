#include "train/batch_norm_stats.h"

#include <ATen/ATen.h>

#include <map>

#include "common/error.h"
#include "runtime/executor.h"

namespace mc::train {

int64_t recalibrate_batch_norm(ir::Model& model, data::DataLoader& loader, int64_t max_batches) {
  bool any = false;
  for (const ir::Node* n : model.graph.nodes()) any = any || n->op() == "batch_norm" || n->op() == "bn_qat";
  if (!any) return 0;
  runtime::Executor ex(model);
  // The k-th update of a BatchNorm with momentum 1/k leaves the mean of its k batch statistics in
  // the running buffers (torch's momentum=None); the first (k = 1) overwrites the stale ones. A
  // BatchNorm is told apart by its running-mean tensor (the model's own, updated in place).
  std::map<const void*, int64_t> seen;
  ex.set_batch_norm_training([&seen](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& rm,
                                     const at::Tensor& rv, double, double eps) {
    const int64_t k = ++seen[rm.unsafeGetTensorImpl()];
    return at::batch_norm(x, w, b, rm, rv, /*training=*/true, 1.0 / static_cast<double>(k), eps, /*cudnn_enabled=*/true);
  });
  at::NoGradGuard no_grad;
  loader.reset(0);
  data::Batch batch;
  int64_t batches = 0;
  while ((max_batches <= 0 || batches < max_batches) && loader.next(batch)) {
    ex.forward(batch.inputs(), /*training=*/true);
    ++batches;
  }
  if (batches == 0)
    throw InputError("BatchNorm recalibration: data '" + loader.dataset().name() + "' yields no batches (is it empty?)");
  return batches;
}

}  // namespace mc::train
