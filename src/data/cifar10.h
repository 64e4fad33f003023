// CIFAR-10 in its binary format (cifar-10-batches-bin).
#pragma once
#include <memory>
#include <string>

#include "data/tensor_dataset.h"

namespace mc::data {

/// Opens the `split` ("train" or "test") of CIFAR-10 binary files. `path` is either
///   - a directory holding data_batch_1.bin .. data_batch_5.bin (train) / test_batch.bin (test),
///     or a directory whose cifar-10-batches-bin/ subdirectory holds them; or
///   - one .bin file (then `split` only names the dataset).
/// Each record is 3073 bytes: a label byte (0..9) then 1024 red, 1024 green, 1024 blue pixels
/// (32 x 32, row-major). All records are loaded into one uint8 N x 3 x 32 x 32 tensor.
/// Throws InputError naming the path for a missing file, a size that is not a whole number of
/// records (truncated) or a label > 9.
std::shared_ptr<TensorDataset> open_cifar10(const std::string& path, const std::string& split,
                                            const std::string& config_key = "");

}  // namespace mc::data
