// Image transforms: per-sample (C x H x W) and batched (N x C x H x W), composable.
// Build them from config with make_transforms() (data/transform_spec.h).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace mc::data {

class Transform {
 public:
  virtual ~Transform() = default;
  /// Transforms one float32 image C x H x W. Never modifies `chw` in place (it may be a view of
  /// dataset memory). Random transforms draw from `rng`; deterministic ones ignore it.
  virtual at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const = 0;
  /// Transforms a batch N x C x H x W that the caller owns (it may be modified in place and
  /// returned). Deterministic transforms work on the whole batch at once; the default applies
  /// apply() to each sample in order, drawing from `rng`.
  virtual at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const;
  /// True when the result depends on the rng.
  virtual bool is_random() const { return false; }
  /// Shape {C, H, W} produced for an input of shape `chw`. Throws InputError when the input
  /// does not fit (e.g. normalize with 3 means on a 1-channel image).
  virtual std::vector<int64_t> output_shape(const std::vector<int64_t>& chw) const { return chw; }
  /// Short description, e.g. "normalize(mean=[0.5], std=[0.5])".
  virtual std::string describe() const = 0;
};

/// Applies transforms in sequence. An empty Compose is the identity.
class Compose : public Transform {
 public:
  Compose() = default;
  explicit Compose(std::vector<std::shared_ptr<const Transform>> transforms);
  at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const override;
  at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const override;
  bool is_random() const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& chw) const override;
  std::string describe() const override;
  const std::vector<std::shared_ptr<const Transform>>& transforms() const { return transforms_; }
  bool empty() const { return transforms_.empty(); }

 private:
  std::vector<std::shared_ptr<const Transform>> transforms_;
};

/// out[c] = (in[c] - mean[c]) / std[c]. One value broadcasts to all channels; otherwise one per
/// channel. Throws InputError for empty lists, different lengths, or std <= 0.
class Normalize : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const override;
  at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& chw) const override;
  std::string describe() const override;

 private:
  at::Tensor params(int64_t channels, bool want_std) const;  // 1 x C x 1 x 1 float
  std::vector<double> mean_, std_;
};

/// Bilinear resize (align_corners = false, no antialiasing, like OpenCV INTER_LINEAR).
/// With height and width: exactly that size. With one size (width = 0): the shorter side becomes
/// `size` and the aspect ratio is kept (torchvision's Resize(int)).
class Resize : public Transform {
 public:
  Resize(int64_t height, int64_t width = 0);
  at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const override;
  at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& chw) const override;
  std::string describe() const override;

 private:
  std::pair<int64_t, int64_t> out_size(int64_t h, int64_t w) const;
  int64_t height_, width_;
};

/// Crops the central height x width region (top = round((H - h) / 2)). Images smaller than the
/// crop are first padded with zeros on both sides (like torchvision).
class CenterCrop : public Transform {
 public:
  CenterCrop(int64_t height, int64_t width);
  at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const override;
  at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& chw) const override;
  std::string describe() const override;

 private:
  int64_t height_, width_;
};

/// Pads by `padding` pixels of value `fill` on every side, then crops height x width at a
/// uniformly random position. Throws InputError when the padded image is smaller than the crop.
class RandomCrop : public Transform {
 public:
  RandomCrop(int64_t height, int64_t width, int64_t padding = 0, double fill = 0.0);
  at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const override;
  /// One pad for the batch, then row copies: the same crops (same draws, same order) as apply()
  /// on each sample in turn, without per-sample tensor ops.
  at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const override;
  bool is_random() const override { return true; }
  std::vector<int64_t> output_shape(const std::vector<int64_t>& chw) const override;
  std::string describe() const override;

 private:
  int64_t height_, width_, padding_;
  double fill_;
};

/// Mirrors the image left-right with probability p (p = 1: always, deterministic).
class HorizontalFlip : public Transform {
 public:
  explicit HorizontalFlip(double p = 0.5);
  at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const override;
  at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const override;
  bool is_random() const override { return p_ > 0.0 && p_ < 1.0; }
  std::string describe() const override;

 private:
  double p_;
};

/// Pads by `padding` pixels of value `fill` on every side.
class Pad : public Transform {
 public:
  explicit Pad(int64_t padding, double fill = 0.0);
  at::Tensor apply(const at::Tensor& chw, std::mt19937& rng) const override;
  at::Tensor apply_batch(at::Tensor nchw, std::mt19937& rng) const override;
  std::vector<int64_t> output_shape(const std::vector<int64_t>& chw) const override;
  std::string describe() const override;

 private:
  int64_t padding_;
  double fill_;
};

}  // namespace mc::data
