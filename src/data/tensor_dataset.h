// A dataset held in memory as one big image tensor plus a label tensor. The idx (MNIST,
// Fashion-MNIST), CIFAR-10 and npy readers all produce one; batches are one index_select.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "data/dataset.h"

namespace mc::data {

class TensorDataset : public Dataset {
 public:
  /// `images`: N x C x H x W, uint8 (scaled by 1/255 on access) or floating point (converted to
  /// float32 as is; expected in [0, 1]). `labels`: N integers in [0, num_classes), or an
  /// undefined tensor for an unlabelled dataset (every label kNoLabel, num_classes 0).
  /// `num_classes` <= 0 infers max(label) + 1. `source` (a path) is used in error messages.
  /// Throws InputError naming `source` when shapes, dtypes or labels are invalid.
  TensorDataset(std::string name, at::Tensor images, at::Tensor labels, int64_t num_classes = 0,
                std::vector<std::string> class_names = {}, const std::string& source = "");

  size_t size() const override { return static_cast<size_t>(labels_.size(0)); }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override { return label_ptr_[i]; }
  int64_t num_classes() const override { return num_classes_; }
  bool has_labels() const override { return has_labels_; }
  std::vector<int64_t> sample_shape() const override;
  std::string name() const override { return name_; }
  std::vector<std::string> class_names() const override { return class_names_; }
  bool has_fast_batch() const override { return true; }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

  /// The stored tensors (uint8 or float32 images N x C x H x W; int64 labels N, kNoLabel when unlabelled).
  const at::Tensor& images() const { return images_; }
  const at::Tensor& labels() const { return labels_; }

 private:
  at::Tensor to_float(at::Tensor raw) const;

  std::string name_;
  at::Tensor images_;
  at::Tensor labels_;
  const int64_t* label_ptr_ = nullptr;
  int64_t num_classes_ = 0;
  bool has_labels_ = true;
  std::vector<std::string> class_names_;
};

}  // namespace mc::data
