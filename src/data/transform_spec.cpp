#include "data/transform_spec.h"

#include "common/error.h"

namespace mc::data {
namespace {

// [s] -> (s, s); [h, w] -> (h, w); anything else is an error.
std::pair<int64_t, int64_t> square_or_hw(const TransformSpec& s, const std::string& where) {
  if (s.size.size() == 1) return {s.size[0], s.size[0]};
  if (s.size.size() == 2) return {s.size[0], s.size[1]};
  throw InputError(where + " (" + s.type + "): size must be [s] or [h, w], got " + std::to_string(s.size.size()) +
                   " values");
}

}  // namespace

const std::vector<std::string>& transform_types() {
  static const std::vector<std::string> types = {"normalize", "resize", "center_crop", "random_crop",
                                                 "horizontal_flip", "pad"};
  return types;
}

std::shared_ptr<const Transform> make_transform(const TransformSpec& s, const std::string& where) {
  try {
    if (s.type == "normalize") return std::make_shared<Normalize>(s.mean, s.std);
    if (s.type == "resize") {
      if (s.size.size() == 1) return std::make_shared<Resize>(s.size[0]);
      const auto [h, w] = square_or_hw(s, where);
      if (w <= 0) throw InputError("resize: size must be positive");
      return std::make_shared<Resize>(h, w);
    }
    if (s.type == "center_crop") {
      const auto [h, w] = square_or_hw(s, where);
      return std::make_shared<CenterCrop>(h, w);
    }
    if (s.type == "random_crop") {
      const auto [h, w] = square_or_hw(s, where);
      return std::make_shared<RandomCrop>(h, w, s.padding, s.fill);
    }
    if (s.type == "horizontal_flip" || s.type == "random_horizontal_flip") {
      return std::make_shared<HorizontalFlip>(s.p);
    }
    if (s.type == "pad") return std::make_shared<Pad>(s.padding, s.fill);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    if (msg.rfind(where, 0) == 0) throw;
    throw InputError(where + ": " + msg);
  }
  std::string list;
  for (const auto& t : transform_types()) list += (list.empty() ? "" : ", ") + t;
  throw InputError(where + ": unknown transform type '" + s.type + "' (expected one of: " + list + ")");
}

std::shared_ptr<const Compose> make_transforms(const std::vector<TransformSpec>& specs, const std::string& config_key) {
  std::vector<std::shared_ptr<const Transform>> ts;
  ts.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    ts.push_back(make_transform(specs[i], config_key + "[" + std::to_string(i) + "]"));
  }
  return std::make_shared<Compose>(std::move(ts));
}

}  // namespace mc::data
