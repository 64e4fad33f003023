#include "train/evaluator.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <sstream>

#include "common/error.h"
#include "distributed/world.h"
#include "runtime/executor.h"
#include "train/loss.h"

namespace mc::train {

void EvalAccumulator::add(const at::Tensor& logits_in, const at::Tensor& labels_in) {
  at::NoGradGuard no_grad;
  at::Tensor logits = logits_in.detach();
  at::Tensor labels = labels_in.to(logits.device(), at::kLong);
  at::Tensor per_sample = cross_entropy_per_sample(logits, labels);  // checks the shapes
  const int64_t k = std::min<int64_t>(5, logits.size(1));
  at::Tensor top = std::get<1>(logits.topk(k, /*dim=*/1, /*largest=*/true, /*sorted=*/true));  // N x k
  at::Tensor hit = top.eq(labels.unsqueeze(1));
  top1_ += hit.select(1, 0).sum().item<int64_t>();
  top5_ += hit.any(1).sum().item<int64_t>();
  loss_sum_ += per_sample.to(at::kDouble).sum().item<double>();
  count_ += logits.size(0);
}

EvalResult EvalAccumulator::result() const {
  EvalResult r;
  r.count = count_;
  if (count_ == 0) return r;
  const double n = static_cast<double>(count_);
  r.top1 = static_cast<double>(top1_) / n;
  r.top5 = static_cast<double>(top5_) / n;
  r.loss = loss_sum_ / n;
  return r;
}

void EvalAccumulator::all_reduce() {
  dist::World& w = dist::world();
  if (!w.distributed()) return;
  at::Tensor counts = at::tensor({top1_, top5_, count_}, at::kLong);
  at::Tensor loss = at::full({1}, loss_sum_, at::kDouble);
  std::vector<at::Tensor> both{counts, loss};
  w.all_reduce(both, dist::ReduceOp::kSum);
  top1_ = counts[0].item<int64_t>();
  top5_ = counts[1].item<int64_t>();
  count_ = counts[2].item<int64_t>();
  loss_sum_ = loss.item<double>();
}

EvalResult evaluate(runtime::Executor& executor, data::DataLoader& loader, int64_t max_batches) {
  EvalAccumulator acc;
  loader.reset(0);
  data::Batch b;
  int64_t batches = 0;
  while ((max_batches <= 0 || batches < max_batches) && loader.next(b)) {
    at::Tensor logits = executor.run(b.inputs()).at(0);
    acc.add(logits, b.labels);
    ++batches;
  }
  if (loader.options().world_size > 1) acc.all_reduce();
  if (acc.result().count == 0)
    throw InputError("evaluation data '" + loader.dataset().name() + "' yields no samples (is the dataset empty?)");
  return acc.result();
}

EvalResult evaluate(ir::Model& model, data::DataLoader& loader, int64_t max_batches) {
  runtime::Executor ex(model);
  return evaluate(ex, loader, max_batches);
}

}  // namespace mc::train
