#include "pipeline/data_context.h"

#include <filesystem>

#include "common/error.h"
#include "data/factory.h"
#include "distributed/world.h"
#include "pipeline/preprocessing.h"

namespace mc::pipeline {
namespace fs = std::filesystem;
using recipe::ConfigNode;

namespace {
struct TransformOptions {
  data::TransformSpec s;
  void visit(recipe::Visitor& v) {
    v.field("type", s.type, "transform type", recipe::Spec::one_of(data::transform_types()).req());
    v.field("mean", s.mean, "normalize: per-channel mean");
    v.field("std", s.std, "normalize: per-channel std");
    v.field("size", s.size, "resize/center_crop/random_crop: [h, w] or [s]");
    v.field("padding", s.padding, "random_crop/pad: pixels on every side", recipe::Spec::at_least(0));
    v.field("fill", s.fill, "random_crop/pad: fill value");
    v.field("p", s.p, "horizontal_flip: probability", recipe::Spec::range(0, 1));
  }
};
}  // namespace

std::vector<data::TransformSpec> parse_transforms(const ConfigNode& node, const std::string& context,
                                                  const std::string& base_dir, recipe::Diagnostics& diag) {
  std::vector<data::TransformSpec> out;
  if (node.is_null()) return out;
  if (node.is_scalar()) {  // preset
    for (auto& dir : recipe::config_search_path(base_dir)) {
      fs::path p = fs::path(dir) / "transforms" / (node.value() + ".yaml");
      if (fs::exists(p)) return parse_transforms(recipe::load_yaml_file(p.string()), context, base_dir, diag);
    }
    std::string names;
    for (const auto& n : transform_presets(base_dir)) names += (names.empty() ? "" : ", ") + n;
    diag.error(node.loc(), "transform preset '" + node.value() + "' not found (configs/transforms/" + node.value() +
                               ".yaml); presets: " + names);
    return out;
  }
  if (!node.is_seq()) {
    diag.error(node.loc(), "'" + context + "' must be a preset name or a list of {type: ..., ...}");
    return out;
  }
  for (size_t i = 0; i < node.items().size(); ++i) {
    TransformOptions t;
    recipe::Reader r(&node.items()[i], diag, context + "[" + std::to_string(i) + "]", base_dir);
    t.visit(r);
    r.finish();
    out.push_back(t.s);
  }
  return out;
}

const recipe::DataSplitSpec& DataContext::spec_of(const std::string& split) const {
  if (split == "train") return recipe_.data.train;
  if (split == "val") return recipe_.data.val;
  const recipe::CalibSpec& c = recipe_.data.calib;
  if (c.own_dataset()) return c.source;
  return c.from_split() == "val" ? recipe_.data.val : recipe_.data.train;
}

void DataContext::open_split(const std::string& split, const recipe::DataSplitSpec& s, recipe::Diagnostics& diag) {
  const ConfigNode* node = recipe_.tree.find("data") ? recipe_.tree.find("data")->find(split) : nullptr;
  recipe::Location loc = node ? node->loc() : recipe::Location{recipe_.source_path, 1, 1};
  if (s.dataset.empty()) {
    diag.error(loc, "'data." + split + "' needs 'dataset:' (fashion_mnist, mnist, cifar10, imagefolder, npy, random_tokens)");
    return;
  }
  auto resolve = [&](const std::string& p) {
    return p.empty() || fs::path(p).is_absolute() ? p : (fs::path(recipe_.base_dir) / p).string();
  };
  data::DatasetSpec ds;
  ds.kind = s.dataset;
  ds.path = resolve(s.path);
  ds.split = !s.split.empty() ? s.split : split == "val" ? "test" : "train";
  ds.labels_path = resolve(s.labels);
  for (const std::string& p : s.inputs) ds.input_paths.push_back(resolve(p));
  ds.tokens = {s.sequences, s.seq_len, s.vocab, s.min_len, s.pad_id, s.mask, 0};
  ds.channels = s.channels;
  ds.labels_optional = split == "calib";
  ds.limit = s.limit;
  ds.limit_shuffle = true;
  ds.seed = static_cast<uint64_t>(recipe_.seed);
  ds.config_key = "data." + split;
  try {
    datasets_[split] = data::make_dataset(ds);
  } catch (const InputError& e) {
    diag.error(loc, e.what());
    return;
  }
  auto specs = parse_transforms(s.transform, "data." + split + ".transform", recipe_.base_dir, diag);
  specs_[split] = specs;
  if (!specs.empty() && !datasets_[split]->float_samples()) {
    const ConfigNode* t = node && node->is_map() ? node->find("transform") : nullptr;
    diag.error(t ? t->loc() : loc, "data." + split + ".transform: dataset '" + datasets_[split]->name() +
                                       "' holds token sequences; transforms apply to images only: remove the transform");
    return;
  }
  try {
    transforms_[split] = data::make_transforms(specs, "data." + split + ".transform");
  } catch (const InputError& e) {
    diag.error(loc, e.what());
  }
}

void DataContext::open_calib(recipe::Diagnostics& diag) {
  const recipe::CalibSpec& c = recipe_.data.calib;
  const ConfigNode* data_node = recipe_.tree.find("data");
  const ConfigNode* calib_node = data_node ? data_node->find("calib") : nullptr;
  const ConfigNode* from_node = calib_node && calib_node->is_map() ? calib_node->find("from") : nullptr;
  const recipe::Location calib_loc = calib_node ? calib_node->loc() : recipe::Location{recipe_.source_path, 1, 1};
  const std::string from = c.own_dataset() ? "calib" : c.from_split();
  if (c.own_dataset() && !c.from.empty()) {
    diag.error(from_node ? from_node->loc() : calib_loc,
               "'data.calib' has both 'from: " + c.from + "' and 'dataset: " + c.source.dataset +
                   "': give one (from: train|val draws from that split; dataset: ... is a calibration set of its own)");
  }
  if (c.own_dataset()) {
    open_split("calib", c.source, diag);
  } else if (!has(from)) {
    diag.error(from_node ? from_node->loc() : calib_loc, "'data.calib.from: " + from + "' needs a 'data." + from + "' section");
  }
  if (!has(from)) return;
  try {
    datasets_["calib"] = data::calib_subset(datasets_[from], c.samples, static_cast<uint64_t>(recipe_.seed));
  } catch (const InputError& e) {
    diag.error(calib_loc, e.what());
    datasets_["calib"] = datasets_[from];  // reported once here, not again as a missing split by the stages
  }
  // Calibration uses evaluation transforms (no random augmentation): its own `transform:` when it
  // has a dataset and gives one, else data.val's, else those of the split it is drawn from.
  if (c.own_dataset() && !c.source.transform.is_null()) return;
  if (transforms_.count("val")) transforms_["calib"] = transforms_["val"];
  else if (transforms_.count(from)) transforms_["calib"] = transforms_[from];
}

void DataContext::open(recipe::Diagnostics& diag) {
  const auto& d = recipe_.data;
  if (d.train.present) open_split("train", d.train, diag);
  if (d.val.present) open_split("val", d.val, diag);
  if (d.calib.present) open_calib(diag);
}

recipe::Location DataContext::location(const std::string& split) const {
  const ConfigNode* data_node = recipe_.tree.find("data");
  const ConfigNode* node = data_node ? data_node->find(split) : nullptr;
  if (node && node->is_map() && node->find("dataset")) return node->find("dataset")->loc();
  return node ? node->loc() : recipe::Location{recipe_.source_path, 1, 1};
}

bool DataContext::has_labels(const std::string& split) const { return has(split) && dataset(split)->has_labels(); }

std::shared_ptr<const data::Dataset> DataContext::dataset(const std::string& split) const {
  auto it = datasets_.find(split);
  if (it == datasets_.end())
    throw InputError("this stage needs 'data." + split + "' in the recipe (e.g. data: {" + split + ": {dataset: fashion_mnist}})");
  return it->second;
}

std::unique_ptr<data::DataLoader> DataContext::loader(const std::string& split, bool training, bool shard) const {
  auto ds = dataset(split);
  const auto& s = spec_of(split);
  data::LoaderOptions o;
  o.batch_size = s.batch_size;
  o.shuffle = training && s.shuffle;
  o.seed = static_cast<uint64_t>(recipe_.seed);
  o.drop_last = false;
  o.num_workers = static_cast<int>(s.workers);
  const dist::World& w = dist::world();
  if (shard && w.distributed()) {
    o.rank = w.rank();
    o.world_size = w.world_size();
    o.remainder = !training                                  ? data::LoaderOptions::Remainder::kSplit
                  : recipe_.distributed.remainder == "drop" ? data::LoaderOptions::Remainder::kDrop
                                                             : data::LoaderOptions::Remainder::kPad;
  }
  auto it = transforms_.find(split);
  if (it != transforms_.end()) o.transforms = it->second;
  return std::make_unique<data::DataLoader>(ds, o);
}

std::vector<int64_t> DataContext::sample_shape() const {
  for (const char* split : {"val", "train", "calib"})
    if (has(split)) return loader(split, false)->sample_shape();
  return {};
}

int64_t DataContext::num_classes() const {
  for (const char* split : {"train", "val"})
    if (has(split)) return dataset(split)->num_classes();
  return 0;
}

}  // namespace mc::pipeline
