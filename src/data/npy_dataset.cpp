#include "data/npy_dataset.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "common/error.h"
#include "data/npy.h"

namespace mc::data {
namespace fs = std::filesystem;

std::shared_ptr<TensorDataset> open_npy(const std::string& images_path, const std::string& labels_path,
                                        const std::string& config_key, bool labels_optional) {
  const std::string& key = config_key;
  if (images_path.empty()) {
    throw InputError("dataset 'npy': no images file given (set " + key + ".path to an N x C x H x W .npy file)");
  }
  std::string images_file = images_path;
  std::string labels_file = labels_path;
  if (fs::is_directory(images_path)) {
    images_file = (fs::path(images_path) / "images.npy").string();
    const std::string in_dir = (fs::path(images_path) / "labels.npy").string();
    if (labels_file.empty() && (!labels_optional || fs::exists(in_dir))) labels_file = in_dir;
  }
  if (labels_file.empty() && !labels_optional) {
    throw InputError("dataset 'npy': no labels file given for " + images_file + " (set " + key +
                     ".labels to a .npy of N integer labels; only data.calib may be unlabelled)");
  }
  for (const auto& [f, what] : {std::pair{images_file, ".path"}, std::pair{labels_file, ".labels"}}) {
    if (!f.empty() && !fs::is_regular_file(f)) {
      throw InputError("dataset 'npy': " + f + " not found (check " + key + what + ")");
    }
  }
  at::Tensor images = read_npy(images_file);
  if (images.dim() == 3) images = images.unsqueeze(1);
  if (images.dim() != 4) {
    throw InputError("dataset 'npy': " + images_file + " holds a " + std::to_string(images.dim()) +
                     "-D array; images must be N x C x H x W or N x H x W (token sequences: set " + key +
                     ".inputs: [ids.npy, ...] instead of " + key + ".path)");
  }
  if (images.scalar_type() != at::kByte && !at::isFloatingType(images.scalar_type())) {
    throw InputError("dataset 'npy': " + images_file + " has dtype " + std::string(at::toString(images.scalar_type())) +
                     "; images must be uint8 (0..255) or float (0..1)");
  }
  if (labels_file.empty())  // unlabelled calibration images
    return std::make_shared<TensorDataset>("npy(" + images_file + ")", images, at::Tensor(), 0,
                                           std::vector<std::string>{}, images_file);
  at::Tensor labels = read_npy(labels_file);
  if (labels.dim() != 1 || at::isFloatingType(labels.scalar_type()) || labels.scalar_type() == at::kBool) {
    throw InputError("dataset 'npy': " + labels_file + " must hold a 1-D array of integer labels (got a " +
                     std::to_string(labels.dim()) + "-D " + std::string(at::toString(labels.scalar_type())) +
                     " array)");
  }
  if (labels.size(0) != images.size(0)) {
    throw InputError("dataset 'npy': " + images_file + " has " + std::to_string(images.size(0)) + " images but " +
                     labels_file + " has " + std::to_string(labels.size(0)) + " labels (they must match)");
  }
  return std::make_shared<TensorDataset>("npy(" + images_file + ")", images, labels, 0,
                                         std::vector<std::string>{}, labels_file);
}

}  // namespace mc::data
