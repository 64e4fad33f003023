#include "data/factory.h"

#include "common/error.h"
#include "data/cifar10.h"
#include "data/image_folder.h"
#include "data/mnist.h"
#include "data/npy_dataset.h"
#include "data/random.h"

namespace mc::data {

const std::vector<std::string>& dataset_kinds() {
  static const std::vector<std::string> kinds = {"fashion_mnist", "mnist", "cifar10", "imagefolder", "npy",
                                                    "random_tokens"};
  return kinds;
}

std::shared_ptr<const Dataset> make_dataset(const DatasetSpec& spec) {
  const std::string split = spec.split.empty() ? std::string("train") : spec.split;
  const std::string key = !spec.config_key.empty() ? spec.config_key : "data." + split;
  auto need_path = [&](const std::string& what) {
    if (spec.path.empty()) {
      throw InputError("dataset '" + spec.kind + "': no path given (set " + key + ".path to " + what + ")");
    }
  };
  if (spec.channels != 0 && spec.kind != "imagefolder") {
    throw InputError("dataset '" + spec.kind + "': " + key + ".channels is only supported for imagefolder");
  }
  if (spec.limit < 0) {
    throw InputError("dataset '" + spec.kind + "': " + key + ".limit must be >= 0 (got " +
                     std::to_string(spec.limit) + "; 0 = all samples)");
  }
  if (!spec.input_paths.empty() && spec.kind != "npy") {
    throw InputError("dataset '" + spec.kind + "': " + key + ".inputs is only supported for npy (token sequences)");
  }
  if (spec.tokens.seq_len != 0 && spec.kind != "random_tokens") {
    throw InputError("dataset '" + spec.kind + "': " + key + ".seq_len is only supported for random_tokens");
  }
  std::shared_ptr<const Dataset> ds;
  if (spec.kind == "fashion_mnist") {
    ds = open_mnist(spec.path.empty() ? kDefaultFashionMnistDir : spec.path, split, spec.kind, key);
  } else if (spec.kind == "mnist") {
    need_path("the directory holding train-images-idx3-ubyte.gz etc.");
    ds = open_mnist(spec.path, split, spec.kind, key);
  } else if (spec.kind == "cifar10") {
    need_path("the cifar-10-batches-bin directory");
    ds = open_cifar10(spec.path, split, key);
  } else if (spec.kind == "imagefolder") {
    need_path(spec.labels_optional ? "a folder laid out as <root>/<class>/<image> or <root>/<image>"
                                   : "a folder laid out as <root>/<class>/<image>");
    ds = std::make_shared<ImageFolderDataset>(spec.path, spec.channels == 0 ? 3 : spec.channels, key,
                                              spec.labels_optional);
  } else if (spec.kind == "npy" && !spec.input_paths.empty()) {
    if (!spec.path.empty()) {
      throw InputError("dataset 'npy': " + key + " has both path (images) and inputs (token sequences): give one");
    }
    if (spec.labels_path.empty() && !spec.labels_optional) {
      throw InputError("dataset 'npy': no labels file given for " + spec.input_paths[0] + " (set " + key +
                       ".labels to a .npy of N integer labels; only data.calib may be unlabelled)");
    }
    ds = open_npy_tokens(spec.input_paths, spec.labels_path, key);
  } else if (spec.kind == "npy") {
    need_path("an N x C x H x W images .npy (or set inputs: [ids.npy, ...] for token sequences)");
    ds = open_npy(spec.path, spec.labels_path, key, spec.labels_optional);
  } else if (spec.kind == "random_tokens") {
    if (!spec.labels_optional) {
      throw InputError("dataset 'random_tokens': random sequences have no labels; use them as data.calib only");
    }
    RandomTokensSpec t = spec.tokens;
    t.seed = mix_seed(spec.seed, t.seed);
    ds = make_random_tokens(t, key);
  } else {
    std::string list;
    for (const auto& k : dataset_kinds()) list += (list.empty() ? "" : ", ") + k;
    throw InputError("unknown dataset kind '" + spec.kind + "' in " + key + ".kind (expected one of: " + list + ")");
  }
  if (spec.limit > 0) ds = limit(ds, spec.limit, spec.limit_shuffle, spec.seed);
  return ds;
}

}  // namespace mc::data
