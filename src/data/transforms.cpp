#include "data/transforms.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include "common/error.h"

namespace mc::data {
namespace {

void check_chw(const at::Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 3) {
    throw InputError(std::string(what) + ": expected an image C x H x W, got a " +
                     (t.defined() ? std::to_string(t.dim()) + "-D tensor" : std::string("undefined tensor")));
  }
}

void check_nchw(const at::Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 4) {
    throw InputError(std::string(what) + ": expected a batch N x C x H x W, got a " +
                     (t.defined() ? std::to_string(t.dim()) + "-D tensor" : std::string("undefined tensor")));
  }
}

void check_shape3(const std::vector<int64_t>& chw, const char* what) {
  if (chw.size() != 3) throw InputError(std::string(what) + ": expected an image shape {C, H, W}");
}

std::string list_str(const std::vector<double>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

std::string size_str(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

void check_size(int64_t h, int64_t w, const char* what) {
  if (h <= 0 || w <= 0) {
    throw InputError(std::string(what) + ": size must be positive, got " + size_str(h, w));
  }
}

}  // namespace

// ---- Transform / Compose ----

at::Tensor Transform::apply_batch(at::Tensor nchw, std::mt19937& rng) const {
  check_nchw(nchw, "transform");
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(nchw.size(0)));
  for (int64_t k = 0; k < nchw.size(0); ++k) out.push_back(apply(nchw[k], rng));
  if (out.empty()) {
    const auto s = output_shape({nchw.size(1), nchw.size(2), nchw.size(3)});
    return at::empty({0, s[0], s[1], s[2]}, nchw.options());
  }
  return at::stack(out);
}

Compose::Compose(std::vector<std::shared_ptr<const Transform>> transforms) : transforms_(std::move(transforms)) {
  for (const auto& t : transforms_) {
    if (!t) throw InputError("Compose: null transform");
  }
}

at::Tensor Compose::apply(const at::Tensor& chw, std::mt19937& rng) const {
  at::Tensor x = chw;
  for (const auto& t : transforms_) x = t->apply(x, rng);
  return x;
}

at::Tensor Compose::apply_batch(at::Tensor nchw, std::mt19937& rng) const {
  for (const auto& t : transforms_) nchw = t->apply_batch(std::move(nchw), rng);
  return nchw;
}

bool Compose::is_random() const {
  for (const auto& t : transforms_) {
    if (t->is_random()) return true;
  }
  return false;
}

std::vector<int64_t> Compose::output_shape(const std::vector<int64_t>& chw) const {
  std::vector<int64_t> s = chw;
  for (const auto& t : transforms_) s = t->output_shape(s);
  return s;
}

std::string Compose::describe() const {
  std::string s = "compose(";
  for (size_t i = 0; i < transforms_.size(); ++i) s += (i ? ", " : "") + transforms_[i]->describe();
  return s + ")";
}

// ---- Normalize ----

Normalize::Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
  if (mean_.empty() || std_.empty()) throw InputError("normalize: mean and std must both be given");
  if (mean_.size() != std_.size()) {
    throw InputError("normalize: mean has " + std::to_string(mean_.size()) + " values but std has " +
                     std::to_string(std_.size()) + " (give one value per channel, or one for all)");
  }
  for (double s : std_) {
    if (!(s > 0.0) || !std::isfinite(s)) throw InputError("normalize: std values must be > 0, got " + list_str(std_));
  }
  for (double m : mean_) {
    if (!std::isfinite(m)) throw InputError("normalize: mean values must be finite, got " + list_str(mean_));
  }
}

at::Tensor Normalize::params(int64_t channels, bool want_std) const {
  const auto& v = want_std ? std_ : mean_;
  if (v.size() != 1 && static_cast<int64_t>(v.size()) != channels) {
    throw InputError("normalize: " + std::to_string(v.size()) + " mean/std values for an image with " +
                     std::to_string(channels) + " channel(s) (give one value per channel, or one for all)");
  }
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::kFloat);
  auto* p = t.data_ptr<float>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<float>(v[i]);
  return t.view({1, -1, 1, 1});
}

at::Tensor Normalize::apply(const at::Tensor& chw, std::mt19937& rng) const {
  check_chw(chw, "normalize");
  const int64_t c = chw.size(0);
  return (chw - params(c, false)[0]) / params(c, true)[0];
}

at::Tensor Normalize::apply_batch(at::Tensor nchw, std::mt19937& rng) const {
  check_nchw(nchw, "normalize");
  const int64_t c = nchw.size(1);
  return nchw.sub_(params(c, false)).div_(params(c, true));
}

std::vector<int64_t> Normalize::output_shape(const std::vector<int64_t>& chw) const {
  check_shape3(chw, "normalize");
  params(chw[0], false);  // validates the channel count
  return chw;
}

std::string Normalize::describe() const { return "normalize(mean=" + list_str(mean_) + ", std=" + list_str(std_) + ")"; }

// ---- Resize ----

Resize::Resize(int64_t height, int64_t width) : height_(height), width_(width) {
  if (height <= 0 || width < 0) {
    throw InputError("resize: size must be positive, got " + (width ? size_str(height, width) : std::to_string(height)));
  }
}

std::pair<int64_t, int64_t> Resize::out_size(int64_t h, int64_t w) const {
  if (width_ > 0) return {height_, width_};
  if (h <= w) return {height_, std::max<int64_t>(1, height_ * w / h)};  // shorter side = size
  return {std::max<int64_t>(1, height_ * h / w), height_};
}

at::Tensor Resize::apply(const at::Tensor& chw, std::mt19937& rng) const {
  check_chw(chw, "resize");
  return apply_batch(chw.unsqueeze(0), rng).squeeze(0);
}

at::Tensor Resize::apply_batch(at::Tensor nchw, std::mt19937& rng) const {
  check_nchw(nchw, "resize");
  const auto [oh, ow] = out_size(nchw.size(2), nchw.size(3));
  if (oh == nchw.size(2) && ow == nchw.size(3)) return nchw;
  return at::upsample_bilinear2d(nchw.contiguous(), {oh, ow}, /*align_corners=*/false);
}

std::vector<int64_t> Resize::output_shape(const std::vector<int64_t>& chw) const {
  check_shape3(chw, "resize");
  const auto [oh, ow] = out_size(chw[1], chw[2]);
  return {chw[0], oh, ow};
}

std::string Resize::describe() const {
  return "resize(" + (width_ > 0 ? size_str(height_, width_) : "shorter=" + std::to_string(height_)) + ")";
}

// ---- CenterCrop ----

CenterCrop::CenterCrop(int64_t height, int64_t width) : height_(height), width_(width) {
  check_size(height, width, "center_crop");
}

at::Tensor CenterCrop::apply(const at::Tensor& chw, std::mt19937& rng) const {
  check_chw(chw, "center_crop");
  return apply_batch(chw.unsqueeze(0), rng).squeeze(0);
}

at::Tensor CenterCrop::apply_batch(at::Tensor x, std::mt19937& rng) const {
  check_nchw(x, "center_crop");
  int64_t h = x.size(2), w = x.size(3);
  if (h < height_ || w < width_) {  // pad like torchvision: extra pixel on the right/bottom
    const int64_t pw = std::max<int64_t>(0, width_ - w), ph = std::max<int64_t>(0, height_ - h);
    x = at::constant_pad_nd(x, {pw / 2, (pw + 1) / 2, ph / 2, (ph + 1) / 2}, 0.0);
    h = x.size(2);
    w = x.size(3);
  }
  // std::nearbyint rounds half to even, like Python's round() in torchvision.
  const auto top = static_cast<int64_t>(std::nearbyint((h - height_) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((w - width_) / 2.0));
  return x.narrow(2, top, height_).narrow(3, left, width_).contiguous();
}

std::vector<int64_t> CenterCrop::output_shape(const std::vector<int64_t>& chw) const {
  check_shape3(chw, "center_crop");
  return {chw[0], height_, width_};
}

std::string CenterCrop::describe() const { return "center_crop(" + size_str(height_, width_) + ")"; }

// ---- RandomCrop ----

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding, double fill)
    : height_(height), width_(width), padding_(padding), fill_(fill) {
  check_size(height, width, "random_crop");
  if (padding < 0) throw InputError("random_crop: padding must be >= 0, got " + std::to_string(padding));
}

at::Tensor RandomCrop::apply(const at::Tensor& chw, std::mt19937& rng) const {
  check_chw(chw, "random_crop");
  output_shape({chw.size(0), chw.size(1), chw.size(2)});  // validates the size
  const int64_t p = padding_;
  at::Tensor x = p > 0 ? at::constant_pad_nd(chw, {p, p, p, p}, fill_) : chw;
  const int64_t top = std::uniform_int_distribution<int64_t>(0, x.size(1) - height_)(rng);
  const int64_t left = std::uniform_int_distribution<int64_t>(0, x.size(2) - width_)(rng);
  return x.narrow(1, top, height_).narrow(2, left, width_).contiguous();
}

at::Tensor RandomCrop::apply_batch(at::Tensor nchw, std::mt19937& rng) const {
  check_nchw(nchw, "random_crop");
  output_shape({nchw.size(1), nchw.size(2), nchw.size(3)});  // validates the size
  const int64_t p = padding_;
  const at::Tensor x = (p > 0 ? at::constant_pad_nd(nchw, {p, p, p, p}, fill_) : nchw).contiguous();
  const int64_t n = x.size(0), c = x.size(1), hin = x.size(2), win = x.size(3);
  at::Tensor out = at::empty({n, c, height_, width_}, x.options());
  const auto es = static_cast<int64_t>(x.element_size());
  const auto* src = static_cast<const char*>(x.data_ptr());
  auto* dst = static_cast<char*>(out.data_ptr());
  const auto row = static_cast<size_t>(width_ * es);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t top = std::uniform_int_distribution<int64_t>(0, hin - height_)(rng);
    const int64_t left = std::uniform_int_distribution<int64_t>(0, win - width_)(rng);
    for (int64_t ch = 0; ch < c; ++ch) {
      const char* plane = src + ((k * c + ch) * hin * win) * es;
      char* oplane = dst + ((k * c + ch) * height_ * width_) * es;
      for (int64_t r = 0; r < height_; ++r)
        std::memcpy(oplane + r * width_ * es, plane + ((top + r) * win + left) * es, row);
    }
  }
  return out;
}

std::vector<int64_t> RandomCrop::output_shape(const std::vector<int64_t>& chw) const {
  check_shape3(chw, "random_crop");
  const int64_t h = chw[1] + 2 * padding_, w = chw[2] + 2 * padding_;
  if (h < height_ || w < width_) {
    throw InputError("random_crop: crop " + size_str(height_, width_) + " is larger than the image " +
                     size_str(chw[1], chw[2]) + " with padding " + std::to_string(padding_) +
                     " (use a smaller size, more padding, or resize first)");
  }
  return {chw[0], height_, width_};
}

std::string RandomCrop::describe() const {
  return "random_crop(" + size_str(height_, width_) + ", padding=" + std::to_string(padding_) + ")";
}

// ---- HorizontalFlip ----

HorizontalFlip::HorizontalFlip(double p) : p_(p) {
  if (!(p >= 0.0 && p <= 1.0)) throw InputError("horizontal_flip: p must be in [0, 1], got " + std::to_string(p));
}

at::Tensor HorizontalFlip::apply(const at::Tensor& chw, std::mt19937& rng) const {
  check_chw(chw, "horizontal_flip");
  const bool flip = p_ >= 1.0 || (p_ > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng) < p_);
  return flip ? chw.flip({2}) : chw;
}

at::Tensor HorizontalFlip::apply_batch(at::Tensor nchw, std::mt19937& rng) const {
  check_nchw(nchw, "horizontal_flip");
  if (p_ <= 0.0) return nchw;
  if (p_ >= 1.0) return nchw.flip({3});
  // Reverses the rows of the chosen samples in place, element by element (any dtype), instead of
  // a flip and a copy per sample.
  nchw = nchw.contiguous();
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int64_t rows_per_sample = nchw.size(1) * nchw.size(2), w = nchw.size(3);
  const auto es = static_cast<size_t>(nchw.element_size());
  auto* base = static_cast<char*>(nchw.data_ptr());
  char tmp[16];
  for (int64_t k = 0; k < nchw.size(0); ++k) {
    if (!(u(rng) < p_)) continue;
    for (int64_t r = 0; r < rows_per_sample; ++r) {
      char* row = base + static_cast<size_t>((k * rows_per_sample + r) * w) * es;
      for (int64_t i = 0, j = w - 1; i < j; ++i, --j) {
        std::memcpy(tmp, row + static_cast<size_t>(i) * es, es);
        std::memcpy(row + static_cast<size_t>(i) * es, row + static_cast<size_t>(j) * es, es);
        std::memcpy(row + static_cast<size_t>(j) * es, tmp, es);
      }
    }
  }
  return nchw;
}

std::string HorizontalFlip::describe() const {
  std::ostringstream os;
  os << "horizontal_flip(p=" << p_ << ")";
  return os.str();
}

// ---- Pad ----

Pad::Pad(int64_t padding, double fill) : padding_(padding), fill_(fill) {
  if (padding < 0) throw InputError("pad: padding must be >= 0, got " + std::to_string(padding));
}

at::Tensor Pad::apply(const at::Tensor& chw, std::mt19937& rng) const {
  check_chw(chw, "pad");
  if (padding_ == 0) return chw;
  return at::constant_pad_nd(chw, {padding_, padding_, padding_, padding_}, fill_);
}

at::Tensor Pad::apply_batch(at::Tensor nchw, std::mt19937& rng) const {
  check_nchw(nchw, "pad");
  if (padding_ == 0) return nchw;
  return at::constant_pad_nd(nchw, {padding_, padding_, padding_, padding_}, fill_);
}

std::vector<int64_t> Pad::output_shape(const std::vector<int64_t>& chw) const {
  check_shape3(chw, "pad");
  return {chw[0], chw[1] + 2 * padding_, chw[2] + 2 * padding_};
}

std::string Pad::describe() const { return "pad(" + std::to_string(padding_) + ")"; }

}  // namespace mc::data
