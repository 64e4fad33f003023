#include "train/loss.h"

#include <ATen/ATen.h>

#include <sstream>

#include "common/error.h"

namespace mc::train {

namespace {

void check_shapes(const at::Tensor& logits, const at::Tensor& labels) {
  if (logits.dim() != 2 || labels.dim() != 1 || labels.size(0) != logits.size(0)) {
    std::ostringstream s;
    s << "cross-entropy wants logits N x C and labels N, got logits " << logits.sizes() << " and labels "
      << labels.sizes() << " (does the model end in a classifier with one output per class?)";
    throw InputError(s.str());
  }
}

}  // namespace

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels, double label_smoothing) {
  check_shapes(logits, labels);
  if (!(label_smoothing >= 0.0 && label_smoothing < 1.0)) {
    std::ostringstream s;
    s << "label_smoothing = " << label_smoothing << " is out of range: must be in [0, 1) (e.g. 0.1)";
    throw InputError(s.str());
  }
  return at::cross_entropy_loss(logits, labels, /*weight=*/{}, at::Reduction::Mean, /*ignore_index=*/-100,
                                label_smoothing);
}

at::Tensor cross_entropy_per_sample(const at::Tensor& logits, const at::Tensor& labels) {
  check_shapes(logits, labels);
  return at::cross_entropy_loss(logits, labels, {}, at::Reduction::None, -100, 0.0);
}

}  // namespace mc::train
