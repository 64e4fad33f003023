// Classification loss: cross-entropy with label smoothing.
#pragma once
#include <ATen/core/Tensor.h>

namespace mc::train {

/// Mean cross-entropy of `logits` (N x C) against class indices `labels` (N, int64), with label
/// smoothing in [0, 1): the target puts 1 - s on the label and s / C on every class. Same value and
/// gradient as torch.nn.functional.cross_entropy(logits, labels, label_smoothing=s).
/// Throws InputError when the shapes do not fit or s is out of range.
at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels, double label_smoothing = 0.0);

/// Per-sample cross-entropy (N values, no smoothing), for evaluation.
at::Tensor cross_entropy_per_sample(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace mc::train
