// Transforms described by plain config structs (filled by the recipe layer from YAML).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/transforms.h"

namespace mc::data {

/// One transform. `type` selects it; only the fields listed for that type are read (the others
/// keep their defaults and are ignored). YAML (keys map 1:1 to fields):
///   transforms:
///     - {type: random_crop, size: [32], padding: 4}     # pad 4, random 32x32 crop
///     - {type: horizontal_flip, p: 0.5}
///     - {type: resize, size: [256]}                     # shorter side -> 256, keep aspect
///     - {type: center_crop, size: [224, 224]}
///     - {type: pad, padding: 2, fill: 0}
///     - {type: normalize, mean: [0.2860], std: [0.3530]}
///
/// type             fields used
/// normalize        mean, std: one value per channel, or one value for all channels; std > 0
/// resize           size: [h, w] exact, or [s]: shorter side to s keeping the aspect ratio
///                  (bilinear, align_corners = false)
/// center_crop      size: [h, w] or [s] (= [s, s]); smaller images are zero-padded first
/// random_crop      size: [h, w] or [s]; padding (>= 0, default 0) and fill (default 0) are
///                  applied on every side before picking the crop position
/// horizontal_flip  p: probability of mirroring left-right (default 0.5; alias random_horizontal_flip)
/// pad              padding (>= 0) pixels of value fill on every side
struct TransformSpec {
  std::string type;
  std::vector<double> mean;   // normalize
  std::vector<double> std;    // normalize
  std::vector<int64_t> size;  // resize, center_crop, random_crop
  int64_t padding = 0;        // random_crop, pad
  double fill = 0.0;          // random_crop, pad
  double p = 0.5;             // horizontal_flip
};

/// The transform types make_transforms accepts.
const std::vector<std::string>& transform_types();

/// Builds one transform. Throws InputError naming `where` (e.g. "data.train.transforms[2]")
/// for an unknown type or invalid fields.
std::shared_ptr<const Transform> make_transform(const TransformSpec& spec, const std::string& where = "transform");

/// Builds the transforms in order as one Compose (empty list = identity). Errors name
/// "<config_key>[i]".
std::shared_ptr<const Compose> make_transforms(const std::vector<TransformSpec>& specs,
                                               const std::string& config_key = "transforms");

}  // namespace mc::data
