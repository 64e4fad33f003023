#include "data/mnist.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <vector>

#include "common/error.h"
#include "data/idx_file.h"

namespace mc::data {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> class_names_for(const std::string& kind) {
  if (kind == "fashion_mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
}

std::string fix_hint(const std::string& kind, const std::string& key) {
  std::string set = "set " + key + ".path to the directory holding the idx files";
  if (kind == "fashion_mnist") return "install the package dataset-fashion-mnist, or " + set;
  return "download the MNIST idx files into it, or " + set;
}

// The first existing file among the spellings of `<prefix>-<what>-idx<n>-ubyte[.gz]`;
// throws naming the preferred spelling when none exists.
std::string find_idx(const std::string& dir, const std::string& prefix, const std::string& what, int n,
                     const std::string& kind, const std::string& key) {
  const std::string base = prefix + "-" + what + "-idx" + std::to_string(n) + "-ubyte";
  const std::string dotted = prefix + "-" + what + ".idx" + std::to_string(n) + "-ubyte";
  for (const std::string& name : {base + ".gz", base, dotted + ".gz", dotted}) {
    const fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p)) return p.string();
  }
  throw InputError("dataset '" + kind + "': " + (fs::path(dir) / (base + ".gz")).string() + " not found (" +
                   fix_hint(kind, key) + ")");
}

}  // namespace

std::shared_ptr<TensorDataset> open_mnist(const std::string& dir, const std::string& split,
                                          const std::string& kind, const std::string& config_key) {
  const std::string key = config_key.empty() ? "data." + (split.empty() ? std::string("train") : split) : config_key;
  if (split != "train" && split != "test") {
    throw InputError("dataset '" + kind + "': unknown split '" + split + "' (set " + key +
                     ".split to 'train' or 'test')");
  }
  if (!fs::is_directory(dir)) {
    throw InputError("dataset '" + kind + "': directory " + dir + " not found (" + fix_hint(kind, key) + ")");
  }
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images_path = find_idx(dir, prefix, "images", 3, kind, key);
  const std::string labels_path = find_idx(dir, prefix, "labels", 1, kind, key);

  at::Tensor images = read_idx(images_path);
  if (images.dim() != 3) {
    throw InputError("idx file " + images_path + " holds " + std::to_string(images.dim()) +
                     "-D data, expected 3-D images N x H x W (is it a labels file?)");
  }
  at::Tensor labels = read_idx(labels_path);
  if (labels.dim() != 1) {
    throw InputError("idx file " + labels_path + " holds " + std::to_string(labels.dim()) +
                     "-D data, expected 1-D labels (is it an images file?)");
  }
  if (labels.size(0) != images.size(0)) {
    throw InputError("dataset '" + kind + "': " + images_path + " has " + std::to_string(images.size(0)) +
                     " images but " + labels_path + " has " + std::to_string(labels.size(0)) +
                     " labels (the files belong to different datasets or splits)");
  }
  images = images.unsqueeze(1);  // N x 1 x H x W
  return std::make_shared<TensorDataset>(kind + "[" + split + "]", images, labels, 10, class_names_for(kind),
                                         labels_path);
}

}  // namespace mc::data
