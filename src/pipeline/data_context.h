// Datasets and loaders of a run, built from the recipe's `data:` section.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/transform_spec.h"
#include "ir/model.h"
#include "recipe/recipe.h"

namespace mc::pipeline {

class DataContext {
 public:
  explicit DataContext(const recipe::Recipe& r) : recipe_(r) {}
  /// Opens every split the recipe names; errors go to `diag` with the recipe location.
  void open(recipe::Diagnostics& diag);
  bool has(const std::string& split) const { return datasets_.count(split) != 0; }
  /// False for a split without labels (data.calib given as unlabelled images) or not open.
  bool has_labels(const std::string& split) const;
  std::shared_ptr<const data::Dataset> dataset(const std::string& split) const;
  /// A loader over `split` ("train", "val", "calib"). Training loaders shuffle (seeded per epoch).
  /// `shard`: in a data-parallel run (dist::world() of several processes) this rank's shard:
  /// training loaders padded or dropped per the recipe's distributed.remainder, others split
  /// without padding (for evaluate(), which all-reduces its counts). Unsharded loaders give every
  /// rank all samples (calibration and other statistics then agree without communication).
  std::unique_ptr<data::DataLoader> loader(const std::string& split, bool training, bool shard = false) const;
  /// {C, H, W} of the samples of the first open split after transforms; empty when no data.
  std::vector<int64_t> sample_shape() const;
  int64_t num_classes() const;
  /// The transform list of an open split as parsed from the recipe (presets resolved).
  const std::vector<data::TransformSpec>& transform_specs(const std::string& split) const { return specs_.at(split); }
  const std::string& recipe_path() const { return recipe_.source_path; }
  /// Where `split` is given in the recipe (its `dataset:` value when it has one).
  recipe::Location location(const std::string& split) const;

 private:
  const recipe::DataSplitSpec& spec_of(const std::string& split) const;
  void open_split(const std::string& split, const recipe::DataSplitSpec& s, recipe::Diagnostics& diag);
  /// data.calib: a seeded subset of its own dataset or of the split named by `from`.
  void open_calib(recipe::Diagnostics& diag);
  const recipe::Recipe& recipe_;
  std::map<std::string, std::shared_ptr<const data::Dataset>> datasets_;
  std::map<std::string, std::shared_ptr<const data::Compose>> transforms_;
  std::map<std::string, std::vector<data::TransformSpec>> specs_;
};

/// The open splits of token sequences (or any split when the model has an integer input) against
/// the model's inputs: one input per graph input, integer samples where the graph input is an
/// integer, the same dims but the batch, and ids within the embedding table each input indexes
/// (0/1 for an input that indexes none: a mask). Errors at the split's file:line:col.
void check_data_on_model(const DataContext& data, const ir::Model& model, recipe::Diagnostics& diag);

/// Parses a `transforms:` node: a preset name (configs/transforms/NAME.yaml) or a list of
/// {type: ..., ...} entries. Errors into diag.
std::vector<data::TransformSpec> parse_transforms(const recipe::ConfigNode& node, const std::string& context,
                                                  const std::string& base_dir, recipe::Diagnostics& diag);

}  // namespace mc::pipeline
