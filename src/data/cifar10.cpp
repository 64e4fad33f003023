#include "data/cifar10.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace mc::data {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kRecord = 3073;

// Reads one .bin file as an M x 3073 uint8 tensor.
at::Tensor read_records(const std::string& path) {
  std::error_code ec;
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) throw InputError("CIFAR-10 file " + path + " cannot be read: " + ec.message());
  if (bytes == 0 || bytes % kRecord != 0) {
    throw InputError("CIFAR-10 file " + path + " has " + std::to_string(bytes) +
                     " bytes, not a whole number of 3073-byte records (the file is truncated or not a "
                     "CIFAR-10 binary batch: download cifar-10-binary.tar.gz again)");
  }
  at::Tensor t = at::empty({bytes / kRecord, kRecord}, at::kByte);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(t.data_ptr<uint8_t>()), bytes)) {
    throw InputError("CIFAR-10 file " + path + " cannot be read (check permissions)");
  }
  return t;
}

}  // namespace

std::shared_ptr<TensorDataset> open_cifar10(const std::string& path, const std::string& split,
                                            const std::string& config_key) {
  const std::string key = config_key.empty() ? "data." + (split.empty() ? std::string("train") : split) : config_key;
  if (split != "train" && split != "test") {
    throw InputError("dataset 'cifar10': unknown split '" + split + "' (set " + key + ".split to 'train' or 'test')");
  }
  const std::string fix = "download and unpack cifar-10-binary.tar.gz, or set " + key + ".path";
  std::vector<std::string> files;
  if (fs::is_regular_file(path)) {
    files.push_back(path);
  } else if (fs::is_directory(path)) {
    fs::path dir = path;
    const char* probe = split == "train" ? "data_batch_1.bin" : "test_batch.bin";
    if (!fs::exists(dir / probe) && fs::is_directory(dir / "cifar-10-batches-bin")) dir /= "cifar-10-batches-bin";
    if (split == "train") {
      for (int k = 1; k <= 5; ++k) files.push_back((dir / ("data_batch_" + std::to_string(k) + ".bin")).string());
    } else {
      files.push_back((dir / "test_batch.bin").string());
    }
    for (const auto& f : files) {
      if (!fs::is_regular_file(f)) throw InputError("dataset 'cifar10': " + f + " not found (" + fix + ")");
    }
  } else {
    throw InputError("dataset 'cifar10': " + path + " not found (" + fix + ")");
  }

  std::vector<at::Tensor> parts;
  for (const auto& f : files) {
    at::Tensor r = read_records(f);
    const int64_t hi = r.select(1, 0).max().item<int64_t>();
    if (hi > 9) {
      throw InputError("CIFAR-10 file " + f + " has label " + std::to_string(hi) +
                       " (> 9): is it a CIFAR-100 file or not a CIFAR-10 binary batch?");
    }
    parts.push_back(r);
  }
  at::Tensor all = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
  const int64_t n = all.size(0);
  at::Tensor labels = all.select(1, 0).to(at::kLong);
  at::Tensor images = all.narrow(1, 1, kRecord - 1).reshape({n, 3, 32, 32}).contiguous();
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return std::make_shared<TensorDataset>("cifar10[" + split + "]", images, labels, 10, names, files.front());
}

}  // namespace mc::data
