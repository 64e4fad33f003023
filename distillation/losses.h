// Distillation losses as pure tensor functions (autograd flows through the student arguments;
// pass teacher tensors computed under no-grad).
//
//   kd_loss(s, t, T)        = T^2 * KL(softmax(t/T) || softmax(s/T)), summed over classes and
//                             averaged over the batch ("batchmean"): the same value as PyTorch's
//                             F.kl_div(F.log_softmax(s/T, 1), F.softmax(t/T, 1), reduction='batchmean') * T*T
//                             (Hinton et al. 2015; the T^2 keeps gradient magnitudes independent of T).
//   hint_loss(s, t)         = mean squared error over all elements (F.mse_loss, reduction='mean')
//                             (FitNets, Romero et al. 2015; s is the adapted student feature).
//   attention_map(x)        = F.normalize(x.pow(2).mean(1).view(N, -1)): channel-pooled squared
//                             activations, L2-normalised per sample (Zagoruyko & Komodakis 2017).
//   attention_loss(s, t)    = (attention_map(s) - attention_map(t)).pow(2).mean(), as in their code
//                             (channel counts may differ; spatial sizes must match).
//
// The training objective of a distillation run (see distill_modifier.h):
//   (1 - alpha) * CE(s, y) + alpha * kd_loss(s, t, T) + hint_weight * sum(hint_loss)
//                          + attention_weight * sum(attention_loss)
#pragma once
#include <ATen/core/Tensor.h>

namespace mc::distill {

/// N x C student and teacher logits, temperature > 0. InputError for mismatched shapes or T <= 0.
at::Tensor kd_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits, double temperature);

/// Same shapes required (InputError naming both shapes otherwise).
at::Tensor hint_loss(const at::Tensor& student, const at::Tensor& teacher);

/// N x C x H x W -> N x (H*W), each row of unit L2 norm.
at::Tensor attention_map(const at::Tensor& x);

/// N x Cs x H x W and N x Ct x H x W (same N, H, W; InputError otherwise).
at::Tensor attention_loss(const at::Tensor& student, const at::Tensor& teacher);

}  // namespace mc::distill
