#include "data/image_folder.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "common/error.h"

namespace mc::data {
namespace fs = std::filesystem;
namespace {

bool is_image_file(const fs::path& p) {
  static const std::set<std::string> exts = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm",
                                             ".pbm", ".tif", ".tiff", ".webp"};
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return exts.count(e) > 0;
}

bool is_hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

std::vector<fs::path> image_files(const fs::path& dir) {
  std::vector<fs::path> imgs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!is_hidden(e.path()) && !e.is_directory() && is_image_file(e.path())) imgs.push_back(e.path());
  }
  std::sort(imgs.begin(), imgs.end());
  return imgs;
}

}  // namespace

ImageFolderDataset::ImageFolderDataset(const std::string& root, int64_t channels, const std::string& config_key,
                                       bool allow_flat)
    : root_(root), channels_(channels) {
  const std::string key = config_key.empty() ? "data.train" : config_key;
  if (channels != 1 && channels != 3) {
    throw InputError("dataset 'imagefolder' (" + root + "): channels must be 1 or 3, got " +
                     std::to_string(channels) + " (set " + key + ".channels)");
  }
  if (!fs::is_directory(root)) {
    throw InputError("dataset 'imagefolder': directory " + root + " not found (set " + key +
                     ".path to a folder laid out as <root>/<class>/<image>" +
                     (allow_flat ? " or <root>/<image> without labels" : "") + ")");
  }
  std::vector<fs::path> class_dirs;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && !is_hidden(e.path())) class_dirs.push_back(e.path());
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  if (class_dirs.empty() && allow_flat) {  // unlabelled: the images lie in the root
    has_labels_ = false;
    for (const auto& p : image_files(root)) {
      files_.push_back(p.string());
      labels_.push_back(kNoLabel);
    }
  } else if (class_dirs.empty()) {
    throw InputError("dataset 'imagefolder': " + root + " has no class subdirectories (expected <root>/<class>/<image>, "
                     "one folder per class; only data.calib may be a flat folder of unlabelled images)");
  }
  for (size_t c = 0; c < class_dirs.size(); ++c) {
    classes_.push_back(class_dirs[c].filename().string());
    for (const auto& p : image_files(class_dirs[c])) {
      files_.push_back(p.string());
      labels_.push_back(static_cast<int64_t>(c));
    }
  }
  if (files_.empty()) {
    throw InputError("dataset 'imagefolder': no images found under " + root + " (expected " +
                     (has_labels_ ? "<root>/<class>/<image>" : "<root>/<image>") + " with .png/.jpg/.bmp/... files)");
  }
}

Example ImageFolderDataset::get(size_t i) const {
  const std::string& path = files_.at(i);
  cv::Mat img = cv::imread(path, channels_ == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  if (img.empty()) {
    throw InputError("cannot decode image " + path +
                     " (the file is damaged or not an image: replace or remove it from the dataset folder)");
  }
  if (channels_ == 3) cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
  if (!img.isContinuous()) img = img.clone();
  const int64_t h = img.rows, w = img.cols, c = img.channels();
  at::Tensor hwc = at::from_blob(img.data, {h, w, c}, at::TensorOptions().dtype(at::kByte));
  Example ex;
  // permute + to(float) makes a new contiguous tensor, so the cv::Mat may be released afterwards.
  ex.image = hwc.permute({2, 0, 1}).to(at::kFloat, /*non_blocking=*/false, /*copy=*/true)
                 .contiguous()
                 .div_(255.0f);
  ex.label = labels_[i];
  return ex;
}

std::vector<int64_t> ImageFolderDataset::sample_shape() const {
  std::call_once(shape_once_, [this] {
    const at::Tensor image = get(0).image;  // sizes() of a temporary's tensor would dangle (ASan found it)
    shape_.assign(image.sizes().begin(), image.sizes().end());
  });
  return shape_;
}

}  // namespace mc::data
