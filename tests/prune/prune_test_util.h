// Helpers shared by the pruning tests: the trained resnet8 fixture and running /usr/bin/python3.
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "ir/model.h"
#include "support/test_env.h"

namespace mc::test {

/// Fraction of zeros of a tensor.
inline double zero_fraction(const at::Tensor& t) {
  return 1.0 - static_cast<double>(t.count_nonzero().item<int64_t>()) / static_cast<double>(t.numel());
}

}  // namespace mc::test

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"

namespace mc::test {

/// A recipe on the trained resnet8 fixture with Fashion-MNIST subsets and the given stages
/// (YAML list items, indented by two spaces).
inline std::string prune_recipe(const std::string& stages, int64_t val_limit = 1000, int64_t train_limit = 30000) {
  return "name: prune_test\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + resnet8_fixture() +
         "}\n"
         "data:\n"
         "  train: {dataset: fashion_mnist, limit: " + std::to_string(train_limit) +
         ", batch_size: 128, transform: fmnist_train}\n"
         "  val: {dataset: fashion_mnist, limit: " + std::to_string(val_limit) +
         ", batch_size: 500, transform: fmnist_eval}\n"
         "stages:\n" + stages + "report: {formats: [json], latency: false}\n";
}

inline std::string write_text(const TempDir& d, const std::string& name, const std::string& text) {
  std::string p = d.file(name);
  std::ofstream(p) << text;
  return p;
}

}  // namespace mc::test
