// The typed recipe: YAML -> Recipe, with includes, --set overrides and validation that reports
// every error at once with file:line:col. Stage options are parsed by the pipeline's stage
// registry (each stage declares its own), into the same Diagnostics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "recipe/config_tree.h"
#include "recipe/options.h"

namespace mc::recipe {

/// One model input: model.input, or an item of model.inputs.
struct InputSpec {
  std::vector<int64_t> shape;  // batch first
  std::string dtype = "float32";  // float32 | int64 | int32
  Location loc;
  void visit(Visitor& v);
};

struct ModelSpec {
  std::string zoo;          // built-in architecture name
  std::string torchscript;  // path to a TorchScript file
  std::string checkpoint;   // path to a native .mcm checkpoint or a .mcz archive
  int64_t num_classes = 10;
  std::vector<int64_t> input_shape;  // model.input.shape
  std::string input_dtype = "float32";  // model.input.dtype
  ConfigNode inputs_node;    // model.inputs as written: a list of {shape, dtype} (several inputs)
  std::vector<InputSpec> inputs;  // model.inputs, read by load_recipe (empty: model.input)
  Location loc;
  void visit(Visitor& v);
};

struct DataSplitSpec {
  std::string dataset;        // fashion_mnist, mnist, cifar10, imagefolder, npy
  std::string path;           // dataset directory or file ("" = the installed default)
  std::string split;          // train | test ("" = from the section: train/calib -> train, val -> test)
  std::string labels;         // labels .npy for `npy`
  std::vector<std::string> inputs;  // npy token sequences: one N x T .npy per model input (instead of path)
  int64_t sequences = 512;    // random_tokens: number of sequences
  int64_t seq_len = 0;        // random_tokens: tokens per sequence
  int64_t vocab = 0;          // random_tokens: ids in [0, vocab)
  int64_t min_len = 0;        // random_tokens: shortest sequence before padding (0 = seq_len)
  int64_t pad_id = 0;         // random_tokens: id of the padding positions
  bool mask = false;          // random_tokens: an attention mask as a second input
  int64_t channels = 0;       // imagefolder: 1 = grayscale, 3 = RGB (0 = RGB)
  ConfigNode transform;       // preset name (configs/transforms/<name>.yaml) or a list of transforms
  int64_t batch_size = 128;
  int64_t limit = 0;          // 0 = all samples
  bool shuffle = true;
  int64_t workers = 1;  // 1: decoding overlaps compute without oversubscribing 2 cores
  bool present = false;
  Location loc;
  void visit(Visitor& v);
};

/// data.calib: drawn from another split (`from: train`) or a dataset of its own (`dataset: ...`,
/// the DataSplitSpec fields; labels optional: calibration reads images only).
struct CalibSpec {
  std::string from;  // train | val ("" = train, unless `dataset` is given)
  int64_t samples = 512;
  DataSplitSpec source;  // the calib set's own dataset (source.dataset empty = use `from`)
  bool present = false;
  bool own_dataset() const { return !source.dataset.empty(); }
  /// The split the samples are drawn from when there is no own dataset.
  std::string from_split() const { return from.empty() ? "train" : from; }
  void visit(Visitor& v);
};

struct DataSpec {
  DataSplitSpec train, val;
  CalibSpec calib;
  void visit(Visitor& v);
};

struct ReportSpec {
  std::vector<std::string> formats{"json", "md", "html"};
  bool latency = true;
  std::vector<int64_t> latency_batches{1, 64};
  int64_t latency_repeats = 10;
  bool per_layer = true;
  void visit(Visitor& v);
};

/// `distributed:` settings of a data-parallel run (several processes, see docs/architecture.md,
/// "Data-parallel training"); a single-process run ignores them.
struct DistributedSpec {
  int64_t timeout_s = 300;        // rendezvous and collectives (MC_DIST_TIMEOUT_S overrides it)
  bool sync_batch_norm = false;   // BatchNorm statistics over the global batch in training
  std::string remainder = "pad";  // train split not divisible by the ranks: pad (repeat from the start) | drop
  double bucket_mb = 25;          // gradient all-reduce bucket size
  void visit(Visitor& v);
};

/// One entry of `stages:` (`- finetune: {epochs: 1}`): its options are parsed by the stage.
struct StageEntry {
  std::string name;
  ConfigNode options;
  Location loc;
};

struct Recipe {
  std::string name = "run";
  ModelSpec model;
  DataSpec data;
  std::vector<StageEntry> stages;
  /// `auto:` as written (the `compress auto` search settings, read by src/search/); null when absent.
  /// A recipe with it may leave out `stages:` (the search writes the stages of each trial).
  ConfigNode auto_section;
  ReportSpec report;
  DistributedSpec distributed;
  int64_t seed = 0;
  std::string device = "cpu";
  int64_t threads = 0;  // 0 = all cores
  std::string source_path;  // the recipe file
  std::string base_dir;     // its directory (relative paths resolve here)
  ConfigNode tree;          // merged document (includes + recipe + --set)
  std::string hash;         // of the effective recipe text
};

/// Loads `path`, merges its `include:` presets, applies `sets` ("a.b.0.c=value"), and parses the
/// recipe-level sections. Errors go to `diag` (stage options are checked later by the pipeline).
Recipe load_recipe(const std::string& path, const std::vector<std::string>& sets, Diagnostics& diag);

/// Applies one `--set key.path=value` override to a tree (value parsed as YAML).
void apply_set(ConfigNode& tree, const std::string& assignment, Diagnostics& diag);

/// Directories searched for `include:` presets and transform presets: the recipe's directory,
/// its configs/, $MC_CONFIG_DIR, and the configs/ folder of this source tree.
std::vector<std::string> config_search_path(const std::string& base_dir);

/// FNV-1a 64-bit hex digest.
std::string hash_text(const std::string& text);

}  // namespace mc::recipe
