#include "search/trial.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/subprocess.h"
#include "pipeline/layer_select.h"

namespace mc::search {
namespace fs = std::filesystem;
namespace {

recipe::ConfigNode yaml(const std::string& text) { return recipe::parse_yaml(text, "<auto trial>"); }

// A relative path value of the base recipe, made absolute against its directory.
void absolute_path(recipe::ConfigNode* node, const std::string& base_dir) {
  if (!node || !node->is_scalar() || node->value().empty()) return;
  fs::path p(node->value());
  if (p.is_absolute()) return;
  *node = recipe::ConfigNode::scalar(fs::absolute(fs::path(base_dir) / p).lexically_normal().string(), node->loc());
}

void absolute_paths(recipe::ConfigNode& tree, const std::string& base_dir) {
  if (recipe::ConfigNode* m = tree.find("model"))
    for (const char* k : {"torchscript", "checkpoint"}) absolute_path(m->find(k), base_dir);
  if (recipe::ConfigNode* d = tree.find("data"); d && d->is_map())
    for (const char* split : {"train", "val", "calib"})
      if (recipe::ConfigNode* s = d->find(split); s && s->is_map()) {
        for (const char* k : {"path", "labels"}) absolute_path(s->find(k), base_dir);
        if (recipe::ConfigNode* in = s->find("inputs"); in && in->is_seq())
          for (auto& item : in->items()) absolute_path(&item, base_dir);
      }
}

// The hand recipes' fine-tune (recipes/resnet8_depth_channels.yaml), distilled from the model as loaded.
const char* kFinetune =
    "{optimizer: {type: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005}, schedule: {type: cosine}, "
    "label_smoothing: 0.05, distill: {teacher: original, temperature: 4, alpha: 0.7, cache_teacher: true}}";

}  // namespace

recipe::ConfigNode finetune_options(const AutoOptions& options) {
  recipe::ConfigNode ft = yaml(kFinetune);
  if (options.finetune.is_map()) ft = recipe::ConfigNode::merge(ft, options.finetune);
  return ft;
}

std::string config_key(Config config) {
  std::sort(config.begin(), config.end());
  std::string s;
  for (const Move& m : config) s += (s.empty() ? "" : ";") + m.knob + ":" + m.layer + "=" + m.setting;
  return s.empty() ? "baseline" : s;
}

nlohmann::json TrialResult::to_json() const {
  nlohmann::json moves = nlohmann::json::array();
  for (const Move& m : config) moves.push_back({{"knob", m.knob}, {"layer", m.layer}, {"setting", m.setting}});
  nlohmann::json j = {{"trial", index}, {"key", config_key(config)}, {"config", moves}, {"status", status},
                      {"seconds", seconds}, {"dir", dir}};
  if (status == "done") {
    j["objective"] = objective;
    j["top1"] = top1;
    j["top1_ours"] = top1_ours;
    j["macs"] = macs;
    j["onnx_bytes"] = onnx_bytes;
    if (latency_median_ms > 0) {
      j["latency_median_ms"] = latency_median_ms;
      j["latency_min_ms"] = latency_min_ms;
    }
  } else {
    j["error"] = error;
  }
  return j;
}

TrialResult TrialResult::from_json(const nlohmann::json& j) {
  TrialResult r;
  r.index = j.at("trial").get<int64_t>();
  for (const auto& m : j.at("config"))
    r.config.push_back({m.at("knob").get<std::string>(), m.at("layer").get<std::string>(), m.at("setting").get<std::string>()});
  r.status = j.at("status").get<std::string>();
  r.seconds = j.at("seconds").get<double>();
  r.dir = j.at("dir").get<std::string>();
  if (r.status == "done") {
    r.objective = j.at("objective").get<double>();
    r.top1 = j.at("top1").get<double>();
    r.top1_ours = j.at("top1_ours").get<double>();
    r.macs = j.at("macs").get<int64_t>();
    r.onnx_bytes = j.at("onnx_bytes").get<int64_t>();
    r.latency_median_ms = j.value("latency_median_ms", 0.0);
    r.latency_min_ms = j.value("latency_min_ms", 0.0);
  } else {
    r.error = j.value("error", "");
  }
  return r;
}

recipe::ConfigNode trial_recipe(const recipe::Recipe& base, const AutoOptions& options, const ir::Model& model,
                                const Config& config, const std::string& name) {
  recipe::ConfigNode tree = base.tree;
  for (const char* k : {"auto", "stages", "include", "name"}) tree.erase(k);
  absolute_paths(tree, base.base_dir);
  recipe::ConfigNode out = recipe::ConfigNode::map({});
  out.set("name", recipe::ConfigNode::scalar(name, {}), {});
  for (const auto& [k, v] : tree.entries()) out.set(k, v, {});
  recipe::ConfigNode report = recipe::ConfigNode::merge(out.find("report") ? *out.find("report") : yaml("{}"),
                                                        yaml("{formats: [json, html], latency: false}"));
  out.set("report", report, {});

  // Per knob, its choices; the layers present when each stage runs (removed blocks taken out).
  std::map<std::string, std::map<std::string, std::string>> choices;
  for (const Move& m : config) choices[m.knob][m.layer] = m.setting;
  std::vector<std::string> present = pipeline::scopes_of(pipeline::find_weight_layers(model));
  std::vector<const Knob*> knobs;
  for (const Knob& k : knob_table())
    if (choices.count(k.name)) knobs.push_back(&k);
  std::sort(knobs.begin(), knobs.end(), [](const Knob* a, const Knob* b) { return a->order < b->order; });

  recipe::ConfigNode stages = recipe::ConfigNode::seq({});
  auto add = [&](const std::string& stage, const recipe::ConfigNode& opts) {
    recipe::ConfigNode e = recipe::ConfigNode::map({});
    e.set(stage, opts, {});
    stages.push(e);
  };
  bool finetuned = false;
  auto finetune = [&] {
    if (finetuned) return;
    finetuned = true;
    if (options.finetune_epochs == 0) return;
    recipe::ConfigNode ft = finetune_options(options);
    ft.set("epochs", recipe::ConfigNode::scalar(std::to_string(options.finetune_epochs), {}), {});
    add("finetune", ft);
  };
  for (const Knob* k : knobs) {
    if (k->order > 50) finetune();
    for (const StageText& s : k->stages(choices[k->name], present, options)) add(s.name, s.options);
    if (k->removes_layers) {
      std::vector<std::string> kept;
      for (const std::string& l : present) {
        bool gone = false;
        for (const auto& c : choices[k->name]) gone = gone || within(l, c.first);
        if (!gone) kept.push_back(l);
      }
      present = kept;
    }
  }
  if (!config.empty()) finetune();  // the baseline is the model as loaded: nothing to recover from
  add("save", yaml("{path: model.mcm}"));
  std::string exp = "{onnx: model.onnx, ort_eval: " + std::string(options.objective == "ort_latency" ? "true" : "auto");
  if (options.objective == "ort_latency")
    exp += ", ort_latency_batches: [" + std::to_string(options.batch) + "], ort_latency_runs: " +
           std::to_string(options.latency_runs);
  add("export", yaml(exp + "}"));
  out.set("stages", stages, {});
  return out;
}

TrialResult run_trial(const std::string& exe, const std::string& recipe_path, const std::string& run_dir,
                      const AutoOptions& options) {
  TrialResult r;
  const auto t0 = std::chrono::steady_clock::now();
  ::setenv("MC_DIE_WITH_PARENT", std::to_string(::getpid()).c_str(), 1);  // src/cli/main.cpp
  Subprocess p({exe, "-q", "--recipe", recipe_path, "--out", run_dir});
  ::unsetenv("MC_DIE_WITH_PARENT");
  p.close_stdin();
  p.read_all();
  const int rc = p.wait();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0) {
    std::string why = p.stderr_text(1500);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    r.status = "failed";
    r.error = "exit code " + std::to_string(rc) + ": " + (why.empty() ? "no message" : why);
    return r;
  }
  try {
    std::ifstream in(fs::path(run_dir) / "report.json");
    const nlohmann::json rep = nlohmann::json::parse(in);
    const nlohmann::json& last = rep.at("stages").back();
    const nlohmann::json& d = last.at("details");
    r.top1_ours = last.at("metrics").at("top1").get<double>();
    r.macs = last.at("metrics").at("macs").get<int64_t>();
    r.onnx_bytes = d.at("bytes").get<int64_t>();
    r.top1 = r.top1_ours;
    if (d.contains("ort_eval") && d["ort_eval"].value("status", "") == "done") r.top1 = d["ort_eval"].at("top1_ort").get<double>();
    if (options.objective == "ort_latency") {
      const nlohmann::json& t = d.at("ort_latency").at(0);
      r.latency_median_ms = t.at("median_ms").get<double>();
      r.latency_min_ms = t.at("min_ms").get<double>();
      r.objective = options.latency_statistic == "min" ? r.latency_min_ms : r.latency_median_ms;
    } else if (options.objective == "macs") {
      r.objective = static_cast<double>(r.macs);
    } else {
      r.objective = static_cast<double>(r.onnx_bytes);
    }
    r.status = "done";
  } catch (const std::exception& e) {
    r.status = "failed";
    r.error = "unreadable result in " + run_dir + "/report.json: " + e.what();
  }
  return r;
}

}  // namespace mc::search
