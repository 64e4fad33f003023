#include "recipe/recipe.h"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/error.h"

#ifndef MC_DEFAULT_CONFIG_DIR
#define MC_DEFAULT_CONFIG_DIR ""
#endif

namespace mc::recipe {
namespace fs = std::filesystem;

void InputSpec::visit(Visitor& v) {
  v.field("shape", shape, "input shape, batch first (e.g. [1, 16])");
  v.field("dtype", dtype, "float32, or int64 / int32 for token ids and attention masks", Spec::one_of({"float32", "int64", "int32"}));
}

void ModelSpec::visit(Visitor& v) {
  v.field("zoo", zoo, "built-in architecture (`compress stages` lists them under model)",
          Spec::one_of({"lenet5", "lenet5_caffe", "lenet300_100", "resnet8", "resnet20", "mobilenet_v2_small", "vit_tiny"}));
  v.field("torchscript", torchscript, "TorchScript file (traced or scripted)", Spec::path());
  v.field("checkpoint", checkpoint, "native checkpoint (.mcm) or compressed archive (.mcz) written by a `save` stage", Spec::path());
  v.field("num_classes", num_classes, "classes of a zoo model", Spec::range(2, 100000));
  v.section("input", [&](Visitor& s) {
    s.field("shape", input_shape, "input shape, batch first (e.g. [1, 1, 28, 28])");
    s.field("dtype", input_dtype, "float32, or int64 / int32 for token ids (e.g. {shape: [1, 16], dtype: int64})",
            Spec::one_of({"float32", "int64", "int32"}));
  }, "model input");
  v.field("inputs", inputs_node,
          "several model inputs in forward's order, instead of input: [{shape: [1, 16], dtype: int64}, {shape: [1, 16], dtype: int64}]");
}

void DataSplitSpec::visit(Visitor& v) {
  v.field("dataset", dataset, "dataset kind",
          Spec::one_of({"fashion_mnist", "mnist", "cifar10", "imagefolder", "npy", "random_tokens"}));
  v.field("path", path, "dataset directory or images .npy (empty: the installed default)");
  v.field("split", split, "train or test (default: train for train/calib, test for val)", Spec::one_of({"", "train", "test"}));
  v.field("labels", labels, "labels .npy (npy datasets; optional in data.calib)");
  v.field("inputs", inputs, "npy token sequences instead of path: one N x T integer .npy per model input [ids.npy, mask.npy]");
  v.field("sequences", sequences, "random_tokens: number of sequences", Spec::range(1, 10000000));
  v.field("seq_len", seq_len, "random_tokens: tokens per sequence (the model's input length)", Spec::at_least(0));
  v.field("vocab", vocab, "random_tokens: token ids are drawn from [0, vocab)", Spec::at_least(0));
  v.field("min_len", min_len, "random_tokens: shortest sequence; the rest of a row is padding (0 = seq_len, no padding)",
          Spec::at_least(0));
  v.field("pad_id", pad_id, "random_tokens: token id of the padding", Spec::at_least(0));
  v.field("mask", mask, "random_tokens: an attention mask (1 = token, 0 = padding) as the model's second input");
  v.field("channels", channels, "imagefolder: 1 = grayscale, 3 = RGB (0: RGB)", Spec::range(0, 3));
  v.field("transform", transform, "preset name (configs/transforms/NAME.yaml) or a list of transforms");
  v.field("batch_size", batch_size, "samples per batch", Spec::range(1, 65536));
  v.field("limit", limit, "use only this many samples (0 = all)", Spec::at_least(0));
  v.field("shuffle", shuffle, "shuffle every epoch (training data)");
  v.field("workers", workers, "decode/prefetch worker threads", Spec::range(0, 64));
}

void CalibSpec::visit(Visitor& v) {
  v.field("from", from, "split to draw calibration samples from (default train; or give a dataset of its own below)",
          Spec::one_of({"", "train", "val"}));
  v.field("samples", samples, "number of calibration samples", Spec::range(1, 1000000));
  // A dataset of its own: labels optional (npy without labels, imagefolder of <root>/<image>).
  source.visit(v);
}

void DataSpec::visit(Visitor& v) {
  v.section("train", [&](Visitor& s) { train.visit(s); }, "training data", &train.present);
  v.section("val", [&](Visitor& s) { val.visit(s); }, "validation/test data", &val.present);
  v.section("calib", [&](Visitor& s) { calib.visit(s); }, "calibration subset", &calib.present);
}

void ReportSpec::visit(Visitor& v) {
  v.field("formats", formats, "report files to write (json, md, html)");
  v.field("latency", latency, "measure latency after each stage");
  v.field("latency_batches", latency_batches, "batch sizes timed");
  v.field("latency_repeats", latency_repeats, "timed runs per batch size (median reported)", Spec::range(1, 10000));
  v.field("per_layer", per_layer, "per-layer table in the report");
}

void DistributedSpec::visit(Visitor& v) {
  v.field("timeout_s", timeout_s, "seconds a rank waits for the others (rendezvous, collectives) before failing",
          Spec::range(1, 7 * 24 * 3600));
  v.field("sync_batch_norm", sync_batch_norm, "BatchNorm batch statistics over all ranks' samples in training");
  v.field("remainder", remainder, "train samples not divisible by the ranks: pad (repeat from the start) or drop",
          Spec::one_of({"pad", "drop"}));
  v.field("bucket_mb", bucket_mb, "gradient all-reduce bucket size in MB", Spec::range(0.001, 4096));
}

std::string hash_text(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<std::string> config_search_path(const std::string& base_dir) {
  std::vector<std::string> dirs{base_dir, (fs::path(base_dir) / "configs").string()};
  if (const char* env = std::getenv("MC_CONFIG_DIR")) dirs.emplace_back(env);
  if (std::string(MC_DEFAULT_CONFIG_DIR).size()) dirs.emplace_back(MC_DEFAULT_CONFIG_DIR);
  return dirs;
}

namespace {

std::string resolve_include(const std::string& name, const std::string& base_dir) {
  std::string file = fs::path(name).has_extension() ? name : name + ".yaml";
  std::error_code ec;  // a name the OS refuses (too long, ...) is not found: fs::exists would throw
  if (fs::path(file).is_absolute()) return fs::exists(file, ec) ? file : "";
  for (auto& d : config_search_path(base_dir)) {
    fs::path p = fs::path(d) / file;
    if (fs::exists(p, ec)) return p.lexically_normal().string();
  }
  return "";
}

// Loads a file and everything it includes; includes first, the file on top.
ConfigNode load_with_includes(const std::string& path, Diagnostics& diag, std::set<std::string>& stack) {
  ConfigNode doc = load_yaml_file(path);
  if (!doc.is_map()) {
    diag.error(doc.loc(), "a recipe must be a mapping (name:, model:, data:, stages:, ...)");
    return ConfigNode::map(doc.loc());
  }
  stack.insert(fs::absolute(path).lexically_normal().string());
  ConfigNode merged = ConfigNode::map(doc.loc());
  if (const ConfigNode* inc = doc.find("include")) {
    std::vector<const ConfigNode*> names;
    if (inc->is_scalar()) names.push_back(inc);
    else if (inc->is_seq())
      for (auto& i : inc->items()) names.push_back(&i);
    else
      diag.error(inc->loc(), "'include' must be a preset name or a list of them");
    std::string base = fs::path(path).parent_path().string();
    for (const ConfigNode* n : names) {
      std::string file = n->is_scalar() ? resolve_include(n->value(), base.empty() ? "." : base) : "";
      if (file.empty()) {
        diag.error(n->loc(), "include '" + (n->is_scalar() ? n->value() : std::string("?")) +
                                 "' not found (looked in the recipe's directory, configs/ and $MC_CONFIG_DIR)");
        continue;
      }
      std::string key = fs::absolute(file).lexically_normal().string();
      if (stack.count(key)) {
        diag.error(n->loc(), "include cycle through '" + file + "'");
        continue;
      }
      merged = ConfigNode::merge(merged, load_with_includes(file, diag, stack));
    }
    doc.erase("include");
  }
  stack.erase(fs::absolute(path).lexically_normal().string());
  return ConfigNode::merge(merged, doc);
}

}  // namespace

void apply_set(ConfigNode& tree, const std::string& assignment, Diagnostics& diag) {
  Location loc{"--set " + assignment, 0, 0};
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    diag.error(loc, "expected KEY.PATH=VALUE, e.g. stages.1.finetune.epochs=1");
    return;
  }
  std::string path = assignment.substr(0, eq);
  ConfigNode value;
  try {
    value = parse_yaml(assignment.substr(eq + 1), "--set " + path);
  } catch (const InputError& e) {
    diag.error(loc, e.what());
    return;
  }
  std::vector<std::string> parts;
  size_t b = 0;
  for (size_t i = 0; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '.') {
      parts.push_back(path.substr(b, i - b));
      b = i + 1;
    }
  ConfigNode* cur = &tree;
  std::string walked;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    bool last = i + 1 == parts.size();
    if (p.empty()) {
      diag.error(loc, "empty path segment in '" + path + "'");
      return;
    }
    if (cur->is_seq()) {
      char* end = nullptr;
      long idx = std::strtol(p.c_str(), &end, 10);
      if (*end || idx < 0 || static_cast<size_t>(idx) >= cur->items().size()) {
        diag.error(loc, "'" + walked + "' is a list of " + std::to_string(cur->items().size()) + " entries; '" + p +
                            "' is not an index of it (indexes start at 0)");
        return;
      }
      if (last) {
        cur->items()[static_cast<size_t>(idx)] = value;
        return;
      }
      cur = &cur->items()[static_cast<size_t>(idx)];
    } else {
      if (!cur->is_map() && !cur->is_null()) {
        diag.error(loc, "'" + walked + "' is a value, not a mapping: cannot set '" + p + "' inside it");
        return;
      }
      if (cur->is_null()) *cur = ConfigNode::map(loc);
      if (last) {
        cur->set(p, value, loc);
        return;
      }
      if (!cur->find(p)) cur->set(p, ConfigNode::map(loc), loc);
      cur = cur->find(p);
    }
    walked += (walked.empty() ? "" : ".") + p;
  }
}

namespace {

/// model.inputs: each item read as an InputSpec (file:line:col errors, unknown keys); it excludes
/// model.input.
void read_model_inputs(const ConfigNode& model, ModelSpec& spec, const std::string& base_dir, Diagnostics& diag) {
  const ConfigNode* list = model.find("inputs");
  if (!list || list->is_null()) return;
  if (model.find("input")) diag.error(model.key_loc("inputs"), "model: give either 'input' (one input) or 'inputs' (a list), not both");
  if (!list->is_seq() || list->items().empty()) {
    diag.error(list->loc(), "model.inputs must be a non-empty list of {shape: [...], dtype: ...}, one per input of forward");
    return;
  }
  for (size_t i = 0; i < list->items().size(); ++i) {
    const ConfigNode& item = list->items()[i];
    InputSpec in;
    in.loc = item.loc();
    if (!item.is_map()) {
      diag.error(item.loc(), "model.inputs[" + std::to_string(i) + "] must be a map {shape: [...], dtype: ...}");
      continue;
    }
    Reader rd(&item, diag, "model.inputs[" + std::to_string(i) + "]", base_dir);
    in.visit(rd);
    rd.finish();
    if (in.shape.empty()) diag.error(item.loc(), "model.inputs[" + std::to_string(i) + "] needs a shape (e.g. shape: [1, 16])");
    spec.inputs.push_back(std::move(in));
  }
}

}  // namespace

Recipe load_recipe(const std::string& path, const std::vector<std::string>& sets, Diagnostics& diag) {
  Recipe r;
  r.source_path = path;
  r.base_dir = fs::path(path).parent_path().string();
  if (r.base_dir.empty()) r.base_dir = ".";
  std::set<std::string> stack;
  r.tree = load_with_includes(path, diag, stack);
  for (auto& s : sets) apply_set(r.tree, s, diag);

  // Top-level keys: known sections are parsed here; `stages` is a list handled below.
  ConfigNode top = r.tree;
  ConfigNode stages_node;
  if (const ConfigNode* s = top.find("stages")) {
    stages_node = *s;
    top.erase("stages");
  }
  if (const ConfigNode* a = top.find("auto")) {
    r.auto_section = *a;
    top.erase("auto");
  }
  Reader rd(&top, diag, "recipe", r.base_dir);
  rd.field("name", r.name, "run name (default output directory runs/<name>)");
  rd.field("seed", r.seed, "random seed (initialisation, shuffling, sampling)", Spec::at_least(0));
  rd.field("device", r.device, "cpu or cuda", Spec::one_of({"cpu", "cuda"}));
  rd.field("threads", r.threads, "intra-op threads (0 = all cores)", Spec::range(0, 1024));
  bool has_model = false;
  rd.section("model", [&](Visitor& v) { r.model.visit(v); }, "model to compress", &has_model);
  rd.section("data", [&](Visitor& v) { r.data.visit(v); }, "datasets");
  rd.section("report", [&](Visitor& v) { r.report.visit(v); }, "report settings");
  rd.section("distributed", [&](Visitor& v) { r.distributed.visit(v); }, "data-parallel settings (several processes)");
  rd.finish();

  if (const ConfigNode* m = r.tree.find("model")) r.model.loc = m->loc();
  // Count the keys as written (a misspelt zoo name is already reported; do not add a second error).
  const ConfigNode* mnode = r.tree.find("model");
  int sources = 0;
  for (const char* k : {"zoo", "torchscript", "checkpoint"}) sources += mnode && mnode->find(k) != nullptr;
  if (!has_model) diag.error({path, 1, 1}, "the recipe has no 'model:' section (e.g. model: {zoo: resnet8})");
  else if (sources != 1)
    diag.error(r.model.loc, "'model' needs exactly one of zoo, torchscript or checkpoint (found " + std::to_string(sources) + ")");
  if (const ConfigNode* m = r.tree.find("model")) read_model_inputs(*m, r.model, r.base_dir, diag);
  if (r.model.torchscript.empty() && sources == 1 && (r.model.input_dtype != "float32" || !r.model.inputs.empty())) {
    diag.error(r.model.loc, "model.input.dtype and model.inputs are for TorchScript models; a zoo model or checkpoint "
                            "has its inputs already (remove them)");
  }
  if (!r.model.torchscript.empty() && r.model.input_shape.empty() && r.model.inputs.empty())
    diag.error(r.model.loc, "a TorchScript model needs 'input: {shape: [...]}' (TorchScript carries no input shape)");
  for (auto& fmt : r.report.formats)
    if (fmt != "json" && fmt != "md" && fmt != "html")
      diag.error(r.tree.key_loc("report"), "report format '" + fmt + "' is not one of: json, md, html");

  if (stages_node.is_null()) {
    if (r.auto_section.is_null()) diag.error({path, 1, 1}, "the recipe has no 'stages:' list");
  } else if (!stages_node.is_seq()) {
    diag.error(stages_node.loc(), "'stages' must be a list (- train: {...})");
  } else {
    for (auto& item : stages_node.items()) {
      StageEntry e;
      e.loc = item.loc();
      if (item.is_scalar()) {
        e.name = item.value();
      } else if (item.is_map() && item.entries().size() == 1) {
        e.name = item.entries()[0].first;
        e.options = item.entries()[0].second;
        e.loc = item.key_loc(e.name);
      } else {
        diag.error(item.loc(), "each stage is one 'name: {options}' entry");
        continue;
      }
      r.stages.push_back(std::move(e));
    }
  }
  r.hash = hash_text(r.tree.to_yaml());
  return r;
}

}  // namespace mc::recipe
