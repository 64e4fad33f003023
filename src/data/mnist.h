// MNIST and Fashion-MNIST from their idx files in one directory.
#pragma once
#include <memory>
#include <string>

#include "data/tensor_dataset.h"

namespace mc::data {

/// Where Debian's package dataset-fashion-mnist installs Fashion-MNIST.
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Opens the `split` ("train" or "test") of an MNIST-format dataset in `dir`:
///   train: train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz]
///   test:  t10k-images-idx3-ubyte[.gz]  + t10k-labels-idx1-ubyte[.gz]
/// (".gz" preferred when both exist; the "images.idx3-ubyte" spelling is accepted too).
/// `kind` is "mnist" or "fashion_mnist"; it sets the name, class names and error hints.
/// `config_key` (e.g. "data.train") names the recipe setting in error messages.
/// The images are loaded into one uint8 N x 1 x 28 x 28 tensor at once.
/// Throws InputError (with path and fix) for a missing directory/file, a bad file or a bad split.
std::shared_ptr<TensorDataset> open_mnist(const std::string& dir, const std::string& split,
                                          const std::string& kind = "mnist",
                                          const std::string& config_key = "");

}  // namespace mc::data
