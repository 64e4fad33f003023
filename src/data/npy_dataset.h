// A dataset from two NumPy .npy files: images and labels.
#pragma once
#include <memory>
#include <string>

#include "data/tensor_dataset.h"

namespace mc::data {

/// Opens images + labels stored as .npy files.
///   images: N x C x H x W or N x H x W (read as N x 1 x H x W); uint8 (scaled by 1/255) or
///           floating point (taken as is, expected in [0, 1]).
///   labels: N integers (int64, int32, or any integer dtype) in [0, num_classes).
/// `images_path` may also be a directory holding images.npy and labels.npy; a non-empty
/// `labels_path` always wins. num_classes = max(label) + 1.
/// `labels_optional` (data.calib): without a labels file the dataset is unlabelled
/// (has_labels() false) instead of an error.
/// Throws InputError (naming the path and the recipe key `config_key`, e.g. "data.train") for
/// missing files, wrong ranks/dtypes or mismatched lengths.
std::shared_ptr<TensorDataset> open_npy(const std::string& images_path, const std::string& labels_path,
                                        const std::string& config_key = "data.train", bool labels_optional = false);

}  // namespace mc::data
