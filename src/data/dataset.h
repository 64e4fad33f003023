// The dataset interface of the data layer, plus views over datasets (Subset, limit, calib_subset).
//
// A Dataset is an indexable collection of images, labelled except for calibration sets
// (has_labels() false: every label is kNoLabel). Every image is a float32 tensor
// C x H x W with values in [0, 1] (before any Normalize transform). Token datasets
// (token_dataset.h: text models) hold int64 sequences instead, one tensor per model input
// (token ids, attention mask): float_samples() false, num_inputs() >= 1. Datasets are immutable after
// construction and all const methods are safe to call from several threads at once (the
// DataLoader's workers do).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mc::data {

/// The label of every sample of an unlabelled dataset (calibration images).
constexpr int64_t kNoLabel = -1;

/// One sample.
struct Example {
  at::Tensor image;   // float32 C x H x W, values in [0, 1]; a token dataset's first input (int64 T)
  int64_t label = 0;  // class index in [0, num_classes), kNoLabel when the dataset has no labels
  std::vector<at::Tensor> more_inputs;  // the model's further inputs (an attention mask), if any
};

/// A batch of samples.
struct Batch {
  at::Tensor images;  // the model's first input: float32 N x C x H x W, or int64 N x T token ids
  at::Tensor labels;  // int64 N
  at::Tensor indices; // int64 N: dataset index of each sample (set by DataLoader)
  std::vector<at::Tensor> more_inputs;  // the model's further inputs, N x ... each (an attention mask)
  size_t size() const { return labels.defined() ? static_cast<size_t>(labels.size(0)) : 0; }
  /// Every model input in forward's order: images, then more_inputs.
  std::vector<at::Tensor> inputs() const;
  /// The first n samples of every input and of labels/indices (n <= size()).
  Batch first(int64_t n) const;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual size_t size() const = 0;
  /// Sample i (0 <= i < size()). May throw InputError naming the file when a sample cannot be
  /// decoded (image folders decode on access).
  virtual Example get(size_t i) const = 0;
  /// Label of sample i without decoding the image (cheap for every built-in dataset).
  virtual int64_t label(size_t i) const { return get(i).label; }

  /// Number of classes (labels are in [0, num_classes)); 0 for an unlabelled dataset.
  virtual int64_t num_classes() const = 0;
  /// False for an unlabelled dataset (npy without labels, a flat image folder): only stages that
  /// read images alone (calibration) may use it.
  virtual bool has_labels() const { return true; }
  /// Shape {C, H, W} of a sample. For image folders it is the shape of the first image;
  /// other images may differ (add a resize / center_crop transform to batch them).
  virtual std::vector<int64_t> sample_shape() const = 0;
  /// Short name for messages and logs, e.g. "fashion_mnist[train]".
  virtual std::string name() const = 0;
  /// Human-readable class names (index = label), or empty when unknown.
  virtual std::vector<std::string> class_names() const { return {}; }
  /// Model inputs per sample: 1 for images; a token dataset's ids and mask are 2.
  virtual size_t num_inputs() const { return 1; }
  /// False for token datasets (integer samples: transforms do not apply, batches stay int64).
  virtual bool float_samples() const { return true; }

  /// True when get_batch() is a cheap gather on an in-memory tensor (idx, CIFAR-10, npy and
  /// views of them). The DataLoader then builds batches without per-sample work.
  virtual bool has_fast_batch() const { return false; }
  /// The samples at `indices` stacked into a Batch. The default stacks get(i) (all samples must
  /// have the same shape); in-memory datasets override it with one index_select.
  virtual Batch get_batch(const std::vector<int64_t>& indices) const;

  /// Labels of all samples, as int64 tensor of size() entries.
  at::Tensor all_labels() const;
};

/// A view of `base` restricted to `indices` (in that order; repeats allowed).
/// Throws InputError when an index is out of range.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);

  size_t size() const override { return indices_.size(); }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  int64_t num_classes() const override { return base_->num_classes(); }
  bool has_labels() const override { return base_->has_labels(); }
  std::vector<int64_t> sample_shape() const override { return base_->sample_shape(); }
  std::string name() const override { return base_->name(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  size_t num_inputs() const override { return base_->num_inputs(); }
  bool float_samples() const override { return base_->float_samples(); }
  bool has_fast_batch() const override { return base_->has_fast_batch(); }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

  const std::vector<int64_t>& indices() const { return indices_; }
  const std::shared_ptr<const Dataset>& base() const { return base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

/// The first `n` samples of `dataset`; with `shuffle`, the first `n` of a permutation fixed by
/// `seed` (a random sample without repeats). Returns `dataset` itself when n >= size().
/// Throws InputError when n <= 0.
std::shared_ptr<const Dataset> limit(std::shared_ptr<const Dataset> dataset, int64_t n, bool shuffle = false,
                                     uint64_t seed = 0);

/// Calibration split: `samples` samples drawn without repeats by a permutation fixed by `seed`
/// (same as limit(dataset, samples, true, seed)). Clamped to the dataset size.
/// Throws InputError when samples <= 0 or the dataset is empty.
std::shared_ptr<const Dataset> calib_subset(std::shared_ptr<const Dataset> dataset, int64_t samples,
                                            uint64_t seed = 0);

}  // namespace mc::data
