#include "distillation/distill_extension.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/error.h"
#include "frontend/frontend.h"
#include "pipeline/data_context.h"
#include "pipeline/run_dir.h"
#include "runtime/executor.h"
#include "train/evaluator.h"
#include "train/trainer.h"

namespace mc::distill {

namespace fs = std::filesystem;
using recipe::ConfigNode;
using recipe::Spec;

namespace {

const char* kTeacherForms =
    "expected 'original', {stage: NAME or INDEX} (an earlier stage's checkpoint), zoo:NAME, or the path of a .mcm or "
    "TorchScript .pt file";

// A path in the recipe, relative to the file that wrote it.
std::string resolve_path(const ConfigNode& n) {
  fs::path p(n.value());
  if (p.is_absolute() || n.loc().file.empty()) return p.string();
  return (fs::path(n.loc().file).parent_path() / p).string();
}

bool all_digits(const std::string& s);

/// The 1-based number of the earlier stage `teacher: {stage: X}` names (X: a stage name, the last
/// such before `self`, or a number), or 0 with the error message in `error`.
int teacher_stage_number(const ConfigNode& st, const std::vector<recipe::StageEntry>& stages, int self,
                         std::string& error) {
  const std::string& want = st.value();
  int index = 0;
  std::vector<std::string> earlier;
  for (int k = 1; k < self && k <= static_cast<int>(stages.size()); ++k) {
    earlier.push_back(stages[static_cast<size_t>(k) - 1].name);
    if (all_digits(want) ? std::stoi(want) == k : earlier.back() == want) index = k;
  }
  if (index == 0) {
    std::string hint = all_digits(want) ? "" : recipe::did_you_mean(want, earlier);
    std::string list;
    for (size_t k = 0; k < earlier.size(); ++k) list += (k ? ", " : "") + std::to_string(k + 1) + " " + earlier[k];
    error = "teacher stage '" + want + "' is not an earlier stage of this recipe (this is stage " +
            std::to_string(self) + "; earlier: " + (list.empty() ? "none" : list) + ")" +
            (hint.empty() ? "" : "; did you mean '" + hint + "'?");
  }
  return index;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

void DistillOptions::visit(recipe::Visitor& v) {
  Spec req;
  req.required = true;
  v.field("teacher", teacher, kTeacherForms, req);
  v.field("temperature", temperature, "softmax temperature T of the soft targets (> 0)");
  v.field("alpha", alpha, "weight of the KD term; the cross-entropy gets 1 - alpha", Spec::range(0, 1));
  v.field("hints", hints, "FitNets feature hints: scopes (same in both) or {student: S, teacher: T}");
  v.field("hint_weight", hint_weight, "weight of each hint's MSE", Spec::at_least(0));
  v.field("attention", attention, "attention transfer: scopes (same in both) or {student: S, teacher: T}");
  v.field("attention_weight", attention_weight, "weight of each attention-transfer term (beta/2)", Spec::at_least(0));
  v.field("cache_teacher", cache_teacher, "compute the teacher's logits once per sample (no random augmentation)");
}

std::vector<FeaturePair> parse_pairs(const ConfigNode& list, const std::string& what, recipe::Diagnostics& diag) {
  std::vector<FeaturePair> out;
  if (list.is_null()) return out;
  if (!list.is_seq()) {
    diag.error(list.loc(), "distill." + what + " must be a list of scopes or {student: S, teacher: T} entries");
    return out;
  }
  for (const ConfigNode& item : list.items()) {
    FeaturePair p;
    p.where = item.loc().str();
    if (item.is_scalar() && !item.value().empty()) {
      p.student = p.teacher = item.value();
    } else if (item.is_map() && item.find("student") && item.find("teacher") && item.entries().size() == 2 &&
               item.find("student")->is_scalar() && item.find("teacher")->is_scalar()) {
      p.student = item.find("student")->value();
      p.teacher = item.find("teacher")->value();
    } else {
      diag.error(item.loc(), "distill." + what + " entry must be a scope (e.g. layer2.0.relu) or {student: S, teacher: T}");
      continue;
    }
    out.push_back(std::move(p));
  }
  return out;
}

void DistillOptions::validate(const ConfigNode& node, recipe::Diagnostics& diag) const {
  auto loc_of = [&](const char* key) { return node.find(key) ? node.find(key)->loc() : node.loc(); };
  if (!(temperature > 0))
    diag.error(loc_of("temperature"), "distill.temperature = " + recipe::format_number(temperature) +
                                          " must be > 0 (typical: 2 to 8)");
  if (!teacher.is_null()) {
    if (teacher.is_scalar()) {
      const std::string& t = teacher.value();
      if (t == "original") {
      } else if (t.rfind("zoo:", 0) == 0) {
        const auto names = frontend::zoo_names();
        if (std::find(names.begin(), names.end(), t.substr(4)) == names.end()) {
          std::string hint = recipe::did_you_mean(t.substr(4), names);
          diag.error(teacher.loc(), "unknown teacher '" + t + "': no zoo model '" + t.substr(4) + "'" +
                                        (hint.empty() ? "" : " (did you mean 'zoo:" + hint + "'?)"));
        }
      } else if (!fs::exists(resolve_path(teacher))) {
        std::string hint = recipe::did_you_mean(t, {"original"});
        diag.error(teacher.loc(), "unknown teacher '" + t + "' (no such file '" + resolve_path(teacher) + "'" +
                                      (hint.empty() ? "" : "; did you mean 'original'?") + "): " + kTeacherForms);
      }
    } else if (!(teacher.is_map() && teacher.entries().size() == 1 && teacher.find("stage") &&
                 teacher.find("stage")->is_scalar())) {
      diag.error(teacher.loc(), std::string("invalid teacher: ") + kTeacherForms);
    }
  }
  auto h = parse_pairs(hints, "hints", diag);
  auto a = parse_pairs(attention, "attention", diag);
  if (cache_teacher && (!h.empty() || !a.empty()))
    diag.error(loc_of("cache_teacher"),
               "distill.cache_teacher caches only the teacher's logits, but hints/attention need its features every "
               "step: set cache_teacher: false or drop the hints and attention terms");
}

void DistillExtension::check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const {
  const ConfigNode& teacher = options_.teacher;
  if (!teacher.is_map() || !teacher.find("stage") || !teacher.find("stage")->is_scalar()) return;
  std::string error;
  if (teacher_stage_number(*teacher.find("stage"), recipe.stages, static_cast<int>(index) + 1, error) == 0)
    diag.error(teacher.find("stage")->loc(), error);
}

std::shared_ptr<ir::Model> load_teacher(const ConfigNode& teacher, const pipeline::RunContext& ctx) {
  const std::string where = teacher.loc().str();
  if (teacher.is_map()) {
    const ConfigNode& st = *teacher.find("stage");
    std::string error;
    const int index = teacher_stage_number(st, ctx.recipe.stages, ctx.stage_index, error);
    if (index == 0) throw InputError(st.loc().str() + ": " + error);
    const std::string path =
        pipeline::RunDir(ctx.run_dir).checkpoint(index, ctx.recipe.stages[static_cast<size_t>(index) - 1].name);
    if (!fs::exists(path))
      throw InputError(st.loc().str() + ": teacher checkpoint '" + path + "' of stage " + std::to_string(index) +
                       " does not exist (was the run directory cleaned?)");
    return std::make_shared<ir::Model>(ir::Model::load(path));
  }
  if (teacher.value() == "original") return std::make_shared<ir::Model>(ctx.original.clone());
  const std::string spec = teacher.value().rfind("zoo:", 0) == 0 ? teacher.value() : resolve_path(teacher);
  try {
    return std::make_shared<ir::Model>(frontend::load_model(spec, ctx.model.input_shape()));
  } catch (const InputError& e) {
    throw InputError(where + ": teacher '" + teacher.value() + "': " + e.what());
  }
}

std::vector<std::shared_ptr<train::Modifier>> DistillExtension::begin(pipeline::RunContext& ctx) {
  const DistillOptions& o = options_;
  recipe::Diagnostics diag;
  DistillSettings s;
  s.temperature = o.temperature;
  s.alpha = o.alpha;
  s.hints = parse_pairs(o.hints, "hints", diag);
  s.attention = parse_pairs(o.attention, "attention", diag);
  s.hint_weight = o.hint_weight;
  s.attention_weight = o.attention_weight;
  s.seed = static_cast<uint64_t>(ctx.recipe.seed);
  diag.throw_if_any("invalid distill options");

  std::shared_ptr<ir::Model> teacher = load_teacher(o.teacher, ctx);
  teacher_desc_ = o.teacher.is_map() ? "stage " + o.teacher.find("stage")->value() : o.teacher.value();
  if (!ctx.model.tensors.empty()) runtime::move_model(*teacher, ctx.model.tensors.begin()->second.device());

  if (o.cache_teacher) {
    auto loader = ctx.data.loader("train", true);
    auto t = loader->options().transforms;
    if (t && t->is_random())
      throw InputError(o.teacher.loc().file + ": distill.cache_teacher: the training transform (" + t->describe() +
                       ") is random, so the teacher's logits differ every epoch and cannot be cached; use a "
                       "transform without random augmentation or set cache_teacher: false");
    s.cache_size = static_cast<int64_t>(loader->dataset().size());
  }
  modifier_ = std::make_shared<DistillModifier>(teacher, ctx.model, s);

  teacher_has_val_ = false;
  if (ctx.data.has("val")) {
    auto val = ctx.data.loader("val", false);
    teacher_val_top1_ = train::evaluate(*teacher, *val).top1;
    teacher_has_val_ = true;
    spdlog::info("distill: teacher '{}' val top1 {:.2f}%", teacher_desc_, 100.0 * teacher_val_top1_);
  }
  return {modifier_};
}

void DistillExtension::end(pipeline::RunContext& ctx, const train::TrainResult&) {
  if (!modifier_) return;
  nlohmann::json d{{"teacher", teacher_desc_},
                   {"temperature", options_.temperature},
                   {"alpha", options_.alpha},
                   {"cache_teacher", options_.cache_teacher}};
  if (teacher_has_val_) d["teacher_val_top1"] = teacher_val_top1_;
  nlohmann::json adapters = nlohmann::json::array();
  for (size_t i = 0; i < options_.hints.items().size(); ++i) {
    auto [w, b] = modifier_->adapter(i);
    if (w.defined()) adapters.push_back({{"hint", i}, {"weight_shape", w.sizes().vec()}});
  }
  d["adapters"] = adapters;
  nlohmann::json epochs = nlohmann::json::array();
  for (const DistillEpoch& e : modifier_->epochs()) {
    nlohmann::json j{{"epoch", e.epoch + 1}, {"teacher_samples", e.teacher_samples}};
    for (auto& [k, v] : e.terms) j[k] = v;
    if (e.has_val) j["val_top1"] = e.val_top1;
    if (teacher_has_val_) j["teacher_val_top1"] = teacher_val_top1_;
    epochs.push_back(j);
    // Alongside the stage's own per-epoch figures as well.
    if (ctx.details.contains("epochs") && static_cast<size_t>(e.epoch) < ctx.details["epochs"].size())
      ctx.details["epochs"][static_cast<size_t>(e.epoch)]["distill"] = j;
  }
  d["epochs"] = epochs;
  ctx.details["distill"] = d;
}

}  // namespace mc::distill
