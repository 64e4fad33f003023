#include "pipeline/preprocessing.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/error.h"
#include "pipeline/data_context.h"
#include "ir/model.h"
#include "recipe/recipe.h"

namespace mc::pipeline {
namespace fs = std::filesystem;

namespace {
// The fields `type` reads (transform_spec.h), so the record holds nothing the transform ignores.
nlohmann::json spec_json(const data::TransformSpec& s) {
  nlohmann::json j = {{"type", s.type}};
  if (s.type == "normalize") {
    j["mean"] = s.mean;
    j["std"] = s.std;
  }
  if (s.type == "resize" || s.type == "center_crop" || s.type == "random_crop") j["size"] = s.size;
  if (s.type == "random_crop" || s.type == "pad") {
    j["padding"] = s.padding;
    j["fill"] = s.fill;
  }
  if (s.type == "horizontal_flip" || s.type == "random_horizontal_flip") j["p"] = s.p;
  return j;
}

// Transforms of a located node (preset name or list), every error of it in one InputError.
std::vector<data::TransformSpec> parse_or_throw(const recipe::ConfigNode& node, const std::string& context,
                                                const std::string& base_dir, const std::string& what) {
  recipe::Diagnostics diag;
  auto specs = parse_transforms(node, context, base_dir, diag);
  diag.throw_if_any(what);
  return specs;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}
}  // namespace

std::string preprocessing_record(const std::vector<data::TransformSpec>& transforms, const std::string& from) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& s : transforms) list.push_back(spec_json(s));
  return nlohmann::json{{"from", from}, {"transform", list}}.dump();
}

Preprocessing read_preprocessing_record(const std::string& record, const std::string& model_path) {
  const std::string where = model_path + "#preprocessing";
  recipe::ConfigNode root = recipe::parse_yaml(record, where);
  const recipe::ConfigNode* list = root.is_map() ? root.find("transform") : nullptr;
  if (!list)
    throw InputError("'" + model_path + "': the recorded preprocessing has no 'transform' list; re-save the checkpoint "
                     "with a recipe or pass --transform");
  Preprocessing p;
  p.transforms = parse_or_throw(*list, "preprocessing.transform", "", "invalid preprocessing recorded in '" + model_path + "'");
  const recipe::ConfigNode* from = root.find("from");
  p.origin = "recorded in " + model_path + (from && from->is_scalar() ? " (" + from->value() + ")" : "");
  return p;
}

std::vector<std::string> transform_presets(const std::string& base_dir) {
  std::set<std::string> names;
  for (const auto& dir : recipe::config_search_path(base_dir)) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(dir) / "transforms", ec))
      if (e.path().extension() == ".yaml") names.insert(e.path().stem().string());
  }
  return {names.begin(), names.end()};
}

Preprocessing transform_argument(const std::string& arg) {
  if (arg == "none") return {{}, "--transform none"};
  const recipe::Location loc{"--transform", 0, 0};
  if (fs::is_regular_file(arg)) {
    std::string dir = fs::path(arg).parent_path().string();
    return {parse_or_throw(recipe::load_yaml_file(arg), "--transform " + arg, dir.empty() ? "." : dir,
                           "invalid transform file '" + arg + "'"),
            "--transform " + arg};
  }
  const auto presets = transform_presets(".");
  const bool looks_like_file = arg.find('/') != std::string::npos || fs::path(arg).extension() == ".yaml";
  if (looks_like_file || std::find(presets.begin(), presets.end(), arg) == presets.end()) {
    std::string hint = recipe::did_you_mean(arg, presets);
    throw InputError("--transform '" + arg + "': " + (looks_like_file ? "no such file" : "unknown transform preset") +
                     (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + ". Presets (configs/transforms/): " + join(presets) +
                     "; or a YAML file holding a list of {type: ...}, or 'none'");
  }
  return {parse_or_throw(recipe::ConfigNode::scalar(arg, loc), "--transform", ".", "invalid transform preset '" + arg + "'"),
          "--transform " + arg};
}

Preprocessing recipe_val_transforms(const std::string& recipe_path) {
  recipe::Diagnostics diag;
  recipe::Recipe r = recipe::load_recipe(recipe_path, {}, diag);
  diag.throw_if_any("invalid recipe '" + recipe_path + "'");
  return {parse_or_throw(r.data.val.transform, "data.val.transform", r.base_dir, "invalid recipe '" + recipe_path + "'"),
          "data.val of --recipe " + recipe_path};
}

void record_preprocessing(ir::Model& model, const DataContext& data) {
  if (data.has("val")) model.preprocessing = preprocessing_record(data.transform_specs("val"), "data.val of " + data.recipe_path());
}

void save_with_preprocessing(ir::Model& model, const DataContext& data, const std::string& path) {
  record_preprocessing(model, data);
  model.save(path);
}

std::string describe_transforms(const std::vector<data::TransformSpec>& transforms) {
  if (transforms.empty()) return "none";
  std::string out;
  for (const auto& s : transforms) {
    nlohmann::json j = spec_json(s);
    std::string fields;
    for (auto& [k, v] : j.items())
      if (k != "type") fields += (fields.empty() ? "" : ", ") + k + "=" + v.dump();
    out += (out.empty() ? "" : ", ") + s.type + "(" + fields + ")";
  }
  return out;
}

}  // namespace mc::pipeline
