#include "data/tensor_dataset.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mc::data {
namespace {

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

}  // namespace

TensorDataset::TensorDataset(std::string name, at::Tensor images, at::Tensor labels, int64_t num_classes,
                             std::vector<std::string> class_names, const std::string& source)
    : name_(std::move(name)), class_names_(std::move(class_names)) {
  const std::string where = "dataset '" + name_ + "'" + (source.empty() ? "" : " (" + source + ")");
  if (!images.defined() || images.dim() != 4) {
    throw InputError(where + ": images must be N x C x H x W, got shape " +
                     (images.defined() ? shape_str(images) : std::string("<none>")));
  }
  if (images.scalar_type() != at::kByte && !at::isFloatingType(images.scalar_type())) {
    throw InputError(where + ": images must be uint8 or floating point, got " +
                     std::string(at::toString(images.scalar_type())));
  }
  if (!labels.defined()) {  // unlabelled (calibration images)
    has_labels_ = false;
    labels = at::full({images.size(0)}, kNoLabel, at::kLong);
  }
  if (labels.dim() != 1) throw InputError(where + ": labels must be a 1-D array, got shape " + shape_str(labels));
  if (at::isFloatingType(labels.scalar_type()) || labels.scalar_type() == at::kBool) {
    throw InputError(where + ": labels must be integers, got " + std::string(at::toString(labels.scalar_type())));
  }
  if (labels.size(0) != images.size(0)) {
    throw InputError(where + ": " + std::to_string(images.size(0)) + " images but " +
                     std::to_string(labels.size(0)) + " labels (both must have the same length)");
  }
  images_ = images.scalar_type() == at::kByte ? images.contiguous() : images.to(at::kFloat).contiguous();
  labels_ = labels.to(at::kLong).contiguous();
  label_ptr_ = labels_.data_ptr<int64_t>();

  if (has_labels_ && labels_.numel() > 0) {
    const int64_t lo = labels_.min().item<int64_t>();
    const int64_t hi = labels_.max().item<int64_t>();
    if (lo < 0) throw InputError(where + ": negative label " + std::to_string(lo));
    if (num_classes <= 0) num_classes = hi + 1;
    if (hi >= num_classes) {
      throw InputError(where + ": label " + std::to_string(hi) + " is out of range for " +
                       std::to_string(num_classes) + " classes");
    }
  }
  num_classes_ = std::max<int64_t>(num_classes, 0);
}

at::Tensor TensorDataset::to_float(at::Tensor raw) const {
  if (raw.scalar_type() == at::kByte) return raw.to(at::kFloat).div_(255.0f);
  return raw;
}

Example TensorDataset::get(size_t i) const {
  if (i >= size()) {
    throw std::out_of_range("dataset '" + name_ + "': index " + std::to_string(i) + " out of range");
  }
  Example ex;
  // select() on a float dataset is a view: clone so callers may modify the sample freely.
  at::Tensor img = images_.select(0, static_cast<int64_t>(i));
  ex.image = images_.scalar_type() == at::kByte ? to_float(img) : img.clone();
  ex.label = label_ptr_[i];
  return ex;
}

std::vector<int64_t> TensorDataset::sample_shape() const {
  return {images_.size(1), images_.size(2), images_.size(3)};
}

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto n = static_cast<int64_t>(size());
  for (int64_t i : indices) {
    if (i < 0 || i >= n) {
      throw std::out_of_range("dataset '" + name_ + "': index " + std::to_string(i) + " out of range");
    }
  }
  // from_blob borrows the caller's vector for the duration of the call only.
  at::Tensor idx = indices.empty() ? at::empty({0}, at::kLong) : at::from_blob(const_cast<int64_t*>(indices.data()), {static_cast<int64_t>(indices.size())},
                                 at::TensorOptions().dtype(at::kLong));
  Batch b;
  b.images = to_float(at::index_select(images_, 0, idx));
  b.labels = at::index_select(labels_, 0, idx);
  return b;
}

}  // namespace mc::data
