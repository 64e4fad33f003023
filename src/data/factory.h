// Building a dataset from a plain config struct (filled by the recipe layer from YAML).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/token_dataset.h"

namespace mc::data {

/// What to load. YAML example (the recipe layer maps keys 1:1):
///   data:
///     train: {kind: fashion_mnist, split: train}                 # Debian's Fashion-MNIST
///     test:  {kind: cifar10, path: /data/cifar-10-batches-bin, split: test}
///     calib: {kind: npy, path: x.npy, labels_path: y.npy, limit: 512, limit_shuffle: true}
///     calib: {kind: npy, input_paths: [ids.npy, mask.npy]}                # token sequences
///     calib: {kind: random_tokens, tokens: {sequences: 512, seq_len: 16, vocab: 1000, mask: true}}
struct DatasetSpec {
  /// fashion_mnist | mnist | cifar10 | imagefolder | npy | random_tokens
  std::string kind;
  /// fashion_mnist, mnist: directory of the idx files (fashion_mnist: empty = Debian's
  ///   /usr/share/datasets/fashion-mnist). cifar10: directory of the .bin batches, or one .bin.
  /// imagefolder: the root of <class>/<image>. npy: the images .npy (or a directory holding
  ///   images.npy and labels.npy).
  std::string path;
  /// train | test (empty = train). Picks the files of idx and CIFAR-10 datasets; ignored by
  /// imagefolder and npy (point `path` at the split's own folder/file instead).
  std::string split = "train";
  /// npy only: the labels .npy (N integers).
  std::string labels_path;
  /// npy only, instead of `path`: token sequences, one N x T integer .npy per model input
  /// (ids, attention mask, ...): a TokenDataset.
  std::vector<std::string> input_paths;
  /// random_tokens only (tokens.seed is mixed with `seed`).
  RandomTokensSpec tokens;
  /// imagefolder only: 3 = RGB (default), 1 = grayscale. 0 = the dataset's default.
  int64_t channels = 0;
  /// The split may be unlabelled (data.calib): npy without a labels file, an imagefolder with
  /// the images directly in the root. The dataset's has_labels() then says false.
  bool labels_optional = false;
  /// > 0: keep only `limit` samples (the first ones, or a seeded random choice with limit_shuffle).
  int64_t limit = 0;
  bool limit_shuffle = false;
  uint64_t seed = 0;  // seed of limit_shuffle
  /// Recipe key of this spec for error messages, e.g. "data.train" (empty = "data.<split>").
  std::string config_key;
};

/// The dataset kinds make_dataset accepts.
const std::vector<std::string>& dataset_kinds();

/// Opens the dataset described by `spec`. Throws InputError (what, which path, how to fix) for
/// an unknown kind, missing directories/files or corrupt data, e.g.
///   dataset 'fashion_mnist': /x/train-images-idx3-ubyte.gz not found (install the package
///   dataset-fashion-mnist, or set data.train.path ...)
std::shared_ptr<const Dataset> make_dataset(const DatasetSpec& spec);

}  // namespace mc::data
