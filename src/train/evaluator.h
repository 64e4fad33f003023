// Evaluation of a classifier: top-1 / top-5 accuracy and mean cross-entropy over a data loader,
// in inference mode (no autograd, batch-norm running statistics, no dropout).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "data/loader.h"
#include "ir/model.h"

namespace mc::runtime {
class Executor;
}

namespace mc::train {

struct EvalResult {
  double top1 = 0.0;  // fraction of samples whose label is the arg-max
  double top5 = 0.0;  // fraction whose label is among the 5 largest logits (all when C <= 5)
  double loss = 0.0;  // mean cross-entropy (no label smoothing)
  int64_t count = 0;  // samples evaluated
};

/// Sums over batches of logits; result() gives the fractions and the mean loss.
class EvalAccumulator {
 public:
  /// `logits` N x C, `labels` N (int64). Throws InputError when they do not fit together.
  void add(const at::Tensor& logits, const at::Tensor& labels);
  EvalResult result() const;
  /// Sums the counts over the ranks of the process-wide dist::world() (sharded evaluation: every
  /// rank then has the result over all shards).
  void all_reduce();

 private:
  int64_t top1_ = 0, top5_ = 0, count_ = 0;
  double loss_sum_ = 0.0;
};

/// Evaluates `model` on every batch of `loader` (epoch 0 of it), or on the first `max_batches`
/// when > 0. A sharded loader (LoaderOptions::world_size > 1, every rank calling this) gives every
/// rank the result over all shards. Throws InputError when the loader yields no samples.
EvalResult evaluate(ir::Model& model, data::DataLoader& loader, int64_t max_batches = 0);
/// The same with an existing executor (no plan rebuilt; used by the trainer every epoch).
EvalResult evaluate(runtime::Executor& executor, data::DataLoader& loader, int64_t max_batches = 0);

}  // namespace mc::train
