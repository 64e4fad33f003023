#include "distillation/losses.h"

#include <ATen/ATen.h>

#include <sstream>

#include "common/error.h"

namespace mc::distill {

namespace {
std::string shape(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}
}  // namespace

at::Tensor kd_loss(const at::Tensor& s, const at::Tensor& t, double temperature) {
  if (!(temperature > 0)) {
    std::ostringstream m;
    m << "distillation temperature = " << temperature << " must be > 0 (typical: 2 to 8)";
    throw InputError(m.str());
  }
  if (s.dim() != 2 || s.sizes() != t.sizes())
    throw InputError("knowledge distillation wants student and teacher logits of the same N x C shape, got student " +
                     shape(s) + " and teacher " + shape(t) + " (do both models predict the same classes?)");
  const at::Tensor log_ps = at::log_softmax(s / temperature, 1);
  const at::Tensor log_pt = at::log_softmax(t.detach() / temperature, 1);
  // sum_c p_t * (log p_t - log p_s), summed over the batch and divided by N ("batchmean").
  const at::Tensor kl = (log_pt.exp() * (log_pt - log_ps)).sum() / static_cast<double>(s.size(0));
  return kl * (temperature * temperature);
}

at::Tensor hint_loss(const at::Tensor& s, const at::Tensor& t) {
  if (s.sizes() != t.sizes())
    throw InputError("feature hint wants the (adapted) student value and the teacher value to have the same shape, got " +
                     shape(s) + " and " + shape(t));
  return at::mse_loss(s, t.detach());
}

at::Tensor attention_map(const at::Tensor& x) {
  if (x.dim() != 4) throw InputError("attention transfer wants N x C x H x W activations, got " + shape(x));
  const at::Tensor q = x.pow(2).mean(1).reshape({x.size(0), -1});
  // F.normalize: x / max(||x||_2, eps) with eps = 1e-12.
  return q / q.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
}

at::Tensor attention_loss(const at::Tensor& s, const at::Tensor& t) {
  if (s.dim() != 4 || t.dim() != 4 || s.size(0) != t.size(0) || s.size(2) != t.size(2) || s.size(3) != t.size(3))
    throw InputError("attention transfer wants student and teacher activations with the same batch and spatial size, got " +
                     shape(s) + " and " + shape(t));
  return (attention_map(s) - attention_map(t.detach())).pow(2).mean();
}

}  // namespace mc::distill
