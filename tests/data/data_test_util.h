// Helpers shared by the data-layer tests.
#pragma once
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <memory>
#include <string>

#include "common/error.h"
#include "data/loader.h"
#include "data/mnist.h"

namespace mc::data::test {

/// Fashion-MNIST splits, loaded once per test binary.
inline std::shared_ptr<TensorDataset> fashion(const std::string& split) {
  static std::shared_ptr<TensorDataset> train = open_mnist(kDefaultFashionMnistDir, "train", "fashion_mnist");
  static std::shared_ptr<TensorDataset> test = open_mnist(kDefaultFashionMnistDir, "test", "fashion_mnist");
  return split == "train" ? train : test;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// LoaderOptions without designated initializers (C++17).
inline LoaderOptions loader_options(int64_t batch_size, int num_workers,
                                    std::shared_ptr<const Transform> transforms = nullptr, bool shuffle = false,
                                    uint64_t seed = 0, bool drop_last = false) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.num_workers = num_workers;
  o.transforms = std::move(transforms);
  o.shuffle = shuffle;
  o.seed = seed;
  o.drop_last = drop_last;
  return o;
}

/// Runs `fn`, expects an InputError whose message contains every string in `parts`.
template <typename Fn>
void expect_input_error(Fn&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "expected mc::InputError";
  } catch (const mc::InputError& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

}  // namespace mc::data::test
