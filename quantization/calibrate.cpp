#include "quantization/calibrate.h"

#include <ATen/ATen.h>

#include <ostream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "runtime/executor.h"

namespace mc::quant {

int64_t run_calibration_batches(runtime::Executor& ex, data::DataLoader& loader, int64_t max_samples, bool allow_empty) {
  int64_t samples = 0;
  loader.reset(0);
  data::Batch b;
  while ((max_samples <= 0 || samples < max_samples) && loader.next(b)) {
    if (max_samples > 0 && samples + b.images.size(0) > max_samples) b = b.first(max_samples - samples);
    ex.run(b.inputs());  // every model input: token ids and an attention mask for text models
    samples += b.images.size(0);
  }
  if (samples == 0 && !allow_empty) throw InputError("calibration data is empty: the calib split has no samples");
  return samples;
}

std::pair<std::map<std::string, at::Tensor>, int64_t> channel_absmax(ir::Model& model, const std::vector<std::string>& values,
                                                                     data::DataLoader& loader, int64_t max_samples) {
  runtime::Executor ex(model);
  std::map<std::string, at::Tensor> amax;
  for (const std::string& v : values)
    ex.add_hook(v, [&amax](const ir::Value& val, const at::Tensor& t) {
      at::Tensor m = t.detach().abs().reshape({-1, t.size(-1)}).amax(0);
      at::Tensor& have = amax[val.name()];
      have = have.defined() ? at::maximum(have, m) : m;
    });
  int64_t samples = run_calibration_batches(ex, loader, max_samples);
  return {std::move(amax), samples};
}

namespace {

// This rank's share of the first `max_samples` samples of a loader sharded round-robin over
// `world_size` ranks (rank r holds positions r, r + W, ...): the positions below max_samples.
int64_t shard_limit(int64_t max_samples, int rank, int world_size) {
  if (max_samples <= 0) return 0;
  return max_samples > rank ? (max_samples - rank + world_size - 1) / world_size : -1;
}

// Every rank observed its shard: the observers' min/max become those of all shards (all-reduced
// min and max, exact), the sample count their sum. One all_reduce per direction for all observers.
int64_t merge_shards(const QuantPlan& plan, std::map<std::string, std::unique_ptr<Observer>>& obs, int64_t samples,
                     dist::World& world) {
  at::Tensor fewest = at::tensor({samples}, at::kLong);  // every rank needs a sample: min/max of nothing are undefined
  world.all_reduce(fewest, dist::ReduceOp::kMin);
  if (fewest.item<int64_t>() == 0)
    throw InputError("calibration data is too small for " + std::to_string(world.world_size()) +
                     " ranks: a rank got no sample of the calib split; use more calibration samples (data.calib)");
  std::vector<at::Tensor> lo, hi;
  for (auto& a : plan.activations) {
    Observer& o = *obs.at(a.name);
    lo.push_back(o.min_seen().to(at::kFloat).contiguous());
    hi.push_back(o.max_seen().to(at::kFloat).contiguous());
  }
  world.all_reduce(lo, dist::ReduceOp::kMin);
  world.all_reduce(hi, dist::ReduceOp::kMax);
  for (size_t i = 0; i < plan.activations.size(); ++i) obs.at(plan.activations[i].name)->set_seen(lo[i], hi[i]);
  at::Tensor total = at::tensor({samples}, at::kLong);
  world.all_reduce(total, dist::ReduceOp::kSum);
  return total.item<int64_t>();
}

}  // namespace

Calibration calibrate(ir::Model& model, const QuantPlan& plan, const ObserverOptions& observer, data::DataLoader& loader,
                      int64_t max_samples, dist::World& world) {
  const data::LoaderOptions& lo = loader.options();
  const bool sharded = lo.world_size > 1;
  if (sharded && (lo.world_size != world.world_size() || lo.rank != world.rank() || lo.shuffle))
    throw RuntimeFailure("calibration: the loader is sharded as rank " + std::to_string(lo.rank) + " of " +
                         std::to_string(lo.world_size) + (lo.shuffle ? " (shuffled)" : "") + ", the process is rank " +
                         std::to_string(world.rank()) + " of " + std::to_string(world.world_size()));
  runtime::Executor ex(model);
  std::map<std::string, std::unique_ptr<Observer>> obs;
  for (auto& a : plan.activations) {
    Observer* o = (obs[a.name] = make_observer(observer, a.spec)).get();
    if (sharded && !o->mergeable())
      throw RuntimeFailure("calibration: observer '" + o->name() +
                           "' depends on the order of the batches and cannot be split across ranks; give it an unsharded loader");
    for (auto& v : a.values) ex.add_hook(v, [o](const ir::Value&, const at::Tensor& t) { o->observe(t); });
  }
  Calibration c;
  if (sharded) {
    const int64_t limit = shard_limit(max_samples, lo.rank, lo.world_size);
    c.local_samples = limit < 0 ? 0 : run_calibration_batches(ex, loader, limit, /*allow_empty=*/true);
    c.samples = merge_shards(plan, obs, c.local_samples, world);
    c.ranks = lo.world_size;
  } else {
    c.samples = c.local_samples = run_calibration_batches(ex, loader, max_samples);
  }
  for (auto& a : plan.activations) {
    Observer& o = *obs.at(a.name);
    QParams q = o.qparams();
    auto [lo, hi] = o.range();
    QRange r = qrange(a.spec);
    c.qparams[a.name] = q;
    c.entries[a.name] = {{"values", a.values},
                         {"scale", q.scale.item<double>()},
                         {"zero_point", q.zero_point.item<int64_t>()},
                         {"quant_min", r.quant_min},
                         {"quant_max", r.quant_max},
                         {"min", o.min_seen().item<double>()},
                         {"max", o.max_seen().item<double>()},
                         {"range", {lo.item<double>(), hi.item<double>()}},
                         {"observer", o.name()}};
  }
  return c;
}

void write_calibration(const std::string& path, const Calibration& c) {
  nlohmann::json j = {{"format", "mc-calib-1"}, {"samples", c.samples}, {"quantizers", c.entries}};
  write_file_atomically(path, [&](std::ostream& os) { os << j.dump(2) << "\n"; });
}

Calibration read_calibration(const std::string& path, const QuantPlan& plan) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not a calibration file (" + e.what() + "); use the calib.json of a quantize run");
  }
  if (!j.is_object() || j.value("format", "") != "mc-calib-1" || !j.contains("quantizers"))
    throw InputError(path + ": not a calibration file (no \"format\": \"mc-calib-1\"); use the calib.json of a quantize run");
  Calibration c;
  c.samples = j.value("samples", int64_t(0));
  const auto& qs = j["quantizers"];
  for (auto& a : plan.activations) {
    if (!qs.contains(a.name))
      throw InputError(path + ": no entry for activation quantizer '" + a.name +
                       "' (the file was made for another model or other quantize options); calibrate again with data");
    const auto& e = qs[a.name];
    QRange r = qrange(a.spec);
    try {
      if (e.at("quant_min").get<int64_t>() != r.quant_min || e.at("quant_max").get<int64_t>() != r.quant_max)
        throw InputError(path + ": quantizer '" + a.name + "' was calibrated for the grid [" +
                         std::to_string(e.at("quant_min").get<int64_t>()) + ", " + std::to_string(e.at("quant_max").get<int64_t>()) +
                         "], the recipe asks for [" + std::to_string(r.quant_min) + ", " + std::to_string(r.quant_max) +
                         "]; calibrate again with data");
      double s = e.at("scale").get<double>();
      if (!(s > 0)) throw InputError(path + ": quantizer '" + a.name + "' has scale " + std::to_string(s) + " (must be > 0)");
      c.qparams[a.name] = {at::tensor({static_cast<float>(s)}, at::kFloat), at::tensor({e.at("zero_point").get<int64_t>()}, at::kLong)};
    } catch (const nlohmann::json::exception& ex) {
      throw InputError(path + ": entry '" + a.name + "' is malformed (" + ex.what() + ")");
    }
    c.entries[a.name] = e;
  }
  return c;
}

}  // namespace mc::quant
