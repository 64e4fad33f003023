#include "lowrank/calib_loss.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "runtime/executor.h"
#include "train/loss.h"

namespace mc::lowrank {

CalibLoss::CalibLoss(ir::Model& model, const pipeline::DataContext& data, int64_t batches)
    : executor_(std::make_unique<runtime::Executor>(model)) {
  auto loader = data.loader("calib", false);
  data::Batch b;
  while (static_cast<int64_t>(labels_.size()) < batches && loader->next(b)) {
    images_batches_.push_back(b.images);
    labels_.push_back(b.labels);
    images_ += b.images.size(0);
  }
  if (labels_.empty()) throw InputError("decompose: data.calib yields no samples (the target search measures a loss on it)");
}

CalibLoss::~CalibLoss() = default;

double CalibLoss::operator()() {
  at::NoGradGuard no_grad;
  double sum = 0.0;
  for (size_t i = 0; i < labels_.size(); ++i) {
    const at::Tensor logits = executor_->run1(images_batches_[i]);
    sum += train::cross_entropy(logits, labels_[i]).item<double>() * static_cast<double>(labels_[i].size(0));
  }
  return sum / static_cast<double>(images_);
}

namespace {
// The stored tensor behind layer n's weight and whether it is the transpose of layer_weight()
// (matmul x @ W keeps W as [in, out]).
std::pair<at::Tensor, bool> stored(ir::Model& m, const ir::Node& n) {
  const bool right = n.op() != "matmul" || (n.input(1)->producer() && n.input(1)->producer()->refers_to_tensor());
  const ir::Node* p = n.input(right ? 1 : 0)->producer();
  if (!p || !p->refers_to_tensor()) throw Error(n.describe() + ": weight is not a stored tensor");
  return {m.tensors.at(p->attrs().s("name")), n.op() == "matmul" && right};
}
}  // namespace

void set_layer_weight(ir::Model& m, const ir::Node& n, const at::Tensor& dense) {
  at::NoGradGuard no_grad;
  auto [w, transposed] = stored(m, n);
  w.detach().copy_(transposed ? dense.t() : dense);
}

}  // namespace mc::lowrank
