// A directory of images, one subdirectory per class: root/<class>/<image>; for calibration also
// a flat folder of unlabelled images: root/<image>.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace mc::data {

class ImageFolderDataset : public Dataset {
 public:
  /// Scans `root`: every subdirectory is a class (sorted by name, label = position); every file
  /// in it with an image extension (.png .jpg .jpeg .bmp .ppm .pgm .pbm .tif .tiff .webp,
  /// case-insensitive) is a sample, sorted by file name. Hidden entries and other files are
  /// ignored. `channels` is 3 (RGB, default) or 1 (grayscale).
  /// Throws InputError when `root` is missing, has no class subdirectories or no images.
  /// `config_key` (e.g. "data.train") names the recipe setting in error messages.
  /// `allow_flat` (data.calib): a root without subdirectories is an unlabelled dataset of the
  /// images in it (has_labels() false, labels kNoLabel) instead of an error.
  explicit ImageFolderDataset(const std::string& root, int64_t channels = 3, const std::string& config_key = "",
                              bool allow_flat = false);

  size_t size() const override { return files_.size(); }
  /// Decodes the image with OpenCV (BGR converted to RGB). Throws InputError naming the file
  /// when it cannot be decoded.
  Example get(size_t i) const override;
  int64_t label(size_t i) const override { return labels_.at(i); }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  bool has_labels() const override { return has_labels_; }
  /// Shape of the first image (decoded once, on first call).
  std::vector<int64_t> sample_shape() const override;
  std::string name() const override { return "imagefolder(" + root_ + ")"; }
  std::vector<std::string> class_names() const override { return classes_; }

  const std::vector<std::string>& files() const { return files_; }

 private:
  std::string root_;
  int64_t channels_ = 3;
  bool has_labels_ = true;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
  mutable std::once_flag shape_once_;
  mutable std::vector<int64_t> shape_;
};

}  // namespace mc::data
