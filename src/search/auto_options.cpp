#include "search/auto_options.h"

#include "common/error.h"
#include "recipe/read_map.h"
#include "search/knobs.h"

namespace mc::search {

void AutoOptions::visit(recipe::Visitor& v) {
  v.field("objective", objective,
          "what the search minimises: ort_latency (ONNX Runtime on the exported file at `batch`), macs, bytes (the "
          "ONNX file's size)",
          recipe::Spec::one_of({"ort_latency", "macs", "bytes"}));
  v.field("batch", batch, "ort_latency: the batch size timed", recipe::Spec::range(1, 65536));
  v.field("latency_runs", latency_runs, "ort_latency: timed runs per trial", recipe::Spec::range(1, 100000));
  v.field("latency_statistic", latency_statistic, "ort_latency: median or fastest (min) of the timed runs",
          recipe::Spec::one_of({"median", "min"}));
  v.field("max_loss", max_loss, "tolerable top-1 loss on data.val against the model as loaded (see `loss`)",
          recipe::Spec::range(0, 100));
  v.field("loss", loss, "points: max_loss in top-1 percentage points; relative: in percent of the baseline's top-1",
          recipe::Spec::one_of({"points", "relative"}));
  v.field("trials", trials, "trials at most (the baseline trial included)", recipe::Spec::range(1, 100000));
  v.field("minutes", minutes, "wall-time budget of the search (sweep and trials; no trial starts that would not fit)",
          recipe::Spec::range(0.01, 1e6));
  v.field("finetune_epochs", finetune_epochs,
          "epochs of each trial's fine-tune, distilled from the model as loaded (0: no fine-tune)",
          recipe::Spec::range(0, 10000));
  v.field("finetune", finetune,
          "more options of the trials' finetune stage (optimizer, schedule, distill, ...; `compress stages`), "
          "epochs excepted");
  v.field("knobs", knobs, "techniques searched, from: prune_blocks, prune_channels, decompose, cluster, quantize");
  v.field("round_channels", round_channels,
          "prune_channels keeps channel counts multiples of this (16: ONNX Runtime's NCHWc blocks on AVX-512; "
          "a count between multiples is padded back there)",
          recipe::Spec::range(1, 1024));
  v.field("sweep_batches", sweep_batches, "data.val batches per per-layer sensitivity measurement (0 = all)",
          recipe::Spec::range(0, 100000));
  v.field("sweep_bn_batches", sweep_bn_batches,
          "data.train batches on which the sweep re-estimates every BatchNorm's running statistics after each move "
          "and before its top-1 (adaptive BatchNorm: a removed block or pruned channels then rank by what a "
          "fine-tune recovers, not by the stale statistics); 0 = off",
          recipe::Spec::range(0, 100000));
  v.field("sweep_finetune_steps", sweep_finetune_steps,
          "training steps (data.train batches) of the distilled fine-tune the sweep runs after each move it measures, "
          "quantization excepted (that runs after the trials' fine-tune): moves then rank by the top-1 a fine-tune "
          "recovers, not by the damage they do at once (a removed block); 0 = off",
          recipe::Spec::range(0, 100000));
  v.field("sweep_long_finetune_steps", sweep_long_finetune_steps,
          "training steps in all of the sweep's fine-tune for the moves that save at least a tenth of the objective "
          "but still lose more than max_loss after sweep_finetune_steps (a removed block recovers over hundreds of "
          "steps; ranked by the short fine-tune it would never be tried); at most one epoch of data.train; 0 or "
          "not above sweep_finetune_steps = off",
          recipe::Spec::range(0, 100000));
  v.field("sweep_latency", sweep_latency,
          "objective ort_latency: the sweep exports each move's model and times it in ONNX Runtime like a trial "
          "(batch, latency_runs, latency_statistic) and ranks moves by milliseconds saved; false: by MACs saved "
          "(a low-rank factorisation saves MACs but runs three convolutions instead of one)");
  v.field("max_moves", max_moves, "ranked (layer, setting) moves the search considers, best first",
          recipe::Spec::range(1, 100000));
}

void AutoOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  const recipe::ConfigNode* k = node.is_map() ? node.find("knobs") : nullptr;
  std::vector<std::string> names;
  for (const Knob& knob : knob_table()) names.push_back(knob.name);
  for (size_t i = 0; i < knobs.size(); ++i) {
    if (find_knob(knobs[i])) continue;
    const recipe::Location at = k && k->is_seq() && i < k->items().size() ? k->items()[i].loc() : loc;
    const std::string hint = recipe::did_you_mean(knobs[i], names);
    diag.error(at, "auto.knobs: unknown knob '" + knobs[i] + "'" +
                       (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; knobs are: " + [&] {
                         std::string s;
                         for (auto& n : names) s += (s.empty() ? "" : ", ") + n;
                         return s;
                       }());
  }
  if (knobs.empty()) diag.error(k ? k->loc() : loc, "auto.knobs is empty: name at least one technique to search");
  const recipe::ConfigNode* f = node.is_map() ? node.find("finetune") : nullptr;
  if (f && !f->is_map()) diag.error(f->loc(), "auto.finetune must be a map of finetune options, e.g. {optimizer: {lr: 0.05}}");
  if (f && f->is_map() && f->find("epochs"))
    diag.error(f->key_loc("epochs"), "auto.finetune.epochs: set the trials' epochs with auto.finetune_epochs");
  if (loss == "relative" && max_loss >= 100) {
    const recipe::ConfigNode* m = node.is_map() ? node.find("max_loss") : nullptr;
    diag.error(m ? m->loc() : loc, "auto.max_loss: a relative loss must be below 100 (percent)");
  }
}

double AutoOptions::min_top1(double baseline_top1) const {
  if (loss == "relative") return baseline_top1 * (1.0 - max_loss / 100.0);
  return baseline_top1 - max_loss / 100.0;
}

AutoOptions read_auto_options(const recipe::Recipe& recipe) {
  recipe::Diagnostics diag;
  AutoOptions o;
  if (recipe.auto_section.is_null()) {
    diag.error({recipe.source_path, 1, 1},
               "the recipe has no 'auto:' section; add one, e.g. auto: {objective: ort_latency, batch: 64, max_loss: 1.0}");
  } else {
    o.loc = recipe.auto_section.loc();
    if (recipe::read_map(recipe.auto_section, "auto", "auto: {objective: ort_latency, max_loss: 1.0}", diag, o)) o.validate(recipe.auto_section, diag);
  }
  diag.throw_if_any("invalid auto section");
  return o;
}

}  // namespace mc::search
