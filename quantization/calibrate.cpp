#include "quantization/calibrate.h"

#include <ATen/ATen.h>

#include <ostream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "runtime/executor.h"

namespace mc::quant {

int64_t run_calibration_batches(runtime::Executor& ex, data::DataLoader& loader, int64_t max_samples) {
  int64_t samples = 0;
  loader.reset(0);
  data::Batch b;
  while ((max_samples <= 0 || samples < max_samples) && loader.next(b)) {
    if (max_samples > 0 && samples + b.images.size(0) > max_samples) b = b.first(max_samples - samples);
    ex.run(b.inputs());  // every model input: token ids and an attention mask for text models
    samples += b.images.size(0);
  }
  if (samples == 0) throw InputError("calibration data is empty: the calib split has no samples");
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

Calibration calibrate(ir::Model& model, const QuantPlan& plan, const ObserverOptions& observer, data::DataLoader& loader,
                      int64_t max_samples) {
  runtime::Executor ex(model);
  std::map<std::string, std::unique_ptr<Observer>> obs;
  for (auto& a : plan.activations) {
    Observer* o = (obs[a.name] = make_observer(observer, a.spec)).get();
    for (auto& v : a.values) ex.add_hook(v, [o](const ir::Value&, const at::Tensor& t) { o->observe(t); });
  }
  Calibration c;
  c.samples = run_calibration_batches(ex, loader, max_samples);
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
