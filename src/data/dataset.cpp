#include "data/dataset.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "data/random.h"

namespace mc::data {

std::vector<at::Tensor> Batch::inputs() const {
  std::vector<at::Tensor> all{images};
  all.insert(all.end(), more_inputs.begin(), more_inputs.end());
  return all;
}

Batch Batch::first(int64_t n) const {
  Batch b;
  b.images = images.slice(0, 0, n);
  for (const at::Tensor& t : more_inputs) b.more_inputs.push_back(t.slice(0, 0, n));
  if (labels.defined()) b.labels = labels.slice(0, 0, n);
  if (indices.defined()) b.indices = indices.slice(0, 0, n);
  return b;
}

Batch Dataset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<at::Tensor> images;
  images.reserve(indices.size());
  at::Tensor labels = at::empty({static_cast<int64_t>(indices.size())}, at::kLong);
  auto* lp = labels.data_ptr<int64_t>();
  for (size_t k = 0; k < indices.size(); ++k) {
    Example ex = get(static_cast<size_t>(indices[k]));
    images.push_back(std::move(ex.image));
    lp[k] = ex.label;
  }
  Batch b;
  b.labels = labels;
  if (images.empty()) {
    auto shape = sample_shape();
    shape.insert(shape.begin(), 0);
    b.images = at::empty(shape, at::kFloat);
  } else {
    b.images = at::stack(images);
  }
  return b;
}

at::Tensor Dataset::all_labels() const {
  at::Tensor labels = at::empty({static_cast<int64_t>(size())}, at::kLong);
  auto* lp = labels.data_ptr<int64_t>();
  for (size_t i = 0; i < size(); ++i) lp[i] = label(i);
  return labels;
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  if (!base_) throw InputError("Subset: base dataset is null");
  const auto n = static_cast<int64_t>(base_->size());
  for (int64_t i : indices_) {
    if (i < 0 || i >= n) {
      throw InputError("subset of dataset '" + base_->name() + "': index " + std::to_string(i) +
                       " is out of range [0, " + std::to_string(n) + ")");
    }
  }
}

Example Subset::get(size_t i) const { return base_->get(static_cast<size_t>(indices_.at(i))); }

int64_t Subset::label(size_t i) const { return base_->label(static_cast<size_t>(indices_.at(i))); }

Batch Subset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> mapped(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) mapped[k] = indices_.at(static_cast<size_t>(indices[k]));
  return base_->get_batch(mapped);
}

std::shared_ptr<const Dataset> limit(std::shared_ptr<const Dataset> dataset, int64_t n, bool shuffle,
                                     uint64_t seed) {
  if (!dataset) throw InputError("limit: dataset is null");
  if (n <= 0) {
    throw InputError("dataset '" + dataset->name() + "': limit must be > 0 (got " + std::to_string(n) +
                     "; remove the limit to use all samples)");
  }
  const size_t size = dataset->size();
  if (static_cast<size_t>(n) >= size) return dataset;
  std::vector<int64_t> idx;
  if (shuffle) {
    idx = random_permutation(size, seed);
    idx.resize(static_cast<size_t>(n));
  } else {
    idx.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  }
  return std::make_shared<Subset>(std::move(dataset), std::move(idx));
}

std::shared_ptr<const Dataset> calib_subset(std::shared_ptr<const Dataset> dataset, int64_t samples,
                                            uint64_t seed) {
  if (!dataset) throw InputError("calib_subset: dataset is null");
  if (samples <= 0) {
    throw InputError("calibration on dataset '" + dataset->name() + "': samples must be > 0 (got " +
                     std::to_string(samples) + ")");
  }
  if (dataset->size() == 0) {
    throw InputError("calibration on dataset '" + dataset->name() +
                     "': the dataset is empty (check the calibration data path)");
  }
  return limit(std::move(dataset), samples, /*shuffle=*/true, seed);
}

}  // namespace mc::data
