// The input preprocessing recorded in a checkpoint (ir::Model::preprocessing) and the ways
// `compress eval` picks one: a transform preset or file, a recipe's data.val, the record, or none.
#pragma once
#include <string>
#include <vector>

#include "data/transform_spec.h"

namespace mc::ir {
class Model;
}

namespace mc::pipeline {
class DataContext;

/// A transform list and where it came from, for the line `compress eval` prints.
struct Preprocessing {
  std::vector<data::TransformSpec> transforms;
  std::string origin;  // e.g. "recorded in runs/x/ckpt/01_train.mcm (data.val of recipes/a.yaml)"
};

/// The JSON text stored in a checkpoint: {"from": FROM, "transform": [{type, and the fields that
/// type uses}]}. Valid YAML too, so it is read back by the recipe's own transform parser.
std::string preprocessing_record(const std::vector<data::TransformSpec>& transforms, const std::string& from);

/// Sets model.preprocessing to data.val's transforms (unchanged when there is no data.val).
void record_preprocessing(ir::Model& model, const DataContext& data);

/// Saves a checkpoint of a recipe run, recording data.val's transforms in model.preprocessing
/// (the runner's ckpt/NN_stage.mcm and the `save` stage).
void save_with_preprocessing(ir::Model& model, const DataContext& data, const std::string& path);

/// Parses a record written by preprocessing_record. InputError naming `model_path` when damaged.
Preprocessing read_preprocessing_record(const std::string& record, const std::string& model_path);

/// `--transform ARG`: "none", a YAML file holding a transform list, or a preset name
/// (configs/transforms/NAME.yaml). An unknown name is an InputError listing the presets.
Preprocessing transform_argument(const std::string& arg);

/// data.val's transforms of a recipe file (its includes and presets resolved).
Preprocessing recipe_val_transforms(const std::string& recipe_path);

/// Names of the transform presets found on the config search path of `base_dir`, sorted.
std::vector<std::string> transform_presets(const std::string& base_dir);

/// One line: "normalize(mean=[0.286], std=[0.353]), center_crop(size=[224])" or "none".
std::string describe_transforms(const std::vector<data::TransformSpec>& transforms);

}  // namespace mc::pipeline
