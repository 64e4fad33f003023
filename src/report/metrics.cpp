#include "report/metrics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/error.h"
#include "ir/op_registry.h"
#include "ir/ops/ops.h"
#include "runtime/executor.h"
#include "runtime/random_inputs.h"

namespace mc::report {

double Metrics::sparsity() const {
  if (params <= 0) return 0.0;
  return 1.0 - static_cast<double>(nonzero_params) / static_cast<double>(params);
}

std::optional<double> Metrics::compression_ratio() const {
  if (bytes_stored <= 0) return std::nullopt;
  return static_cast<double>(bytes_fp32) / static_cast<double>(bytes_stored);
}

bool Metrics::operator==(const Metrics& o) const {
  return top1 == o.top1 && top5 == o.top5 && loss == o.loss && params == o.params &&
         nonzero_params == o.nonzero_params && macs == o.macs && bytes_fp32 == o.bytes_fp32 &&
         bytes_stored == o.bytes_stored && latency_ms == o.latency_ms && layers == o.layers;
}

int64_t storage_bytes(int64_t elements, int bits) { return (elements * bits + 7) / 8; }

namespace {

bool is_source(const ir::Node* n) { return n->op() == "param" || n->op() == "constant"; }

bool is_compute_op(const std::string& op) {
  static const std::set<std::string> kOps = {"conv2d", "linear", "matmul", "batch_norm", "layer_norm"};
  return kOps.count(op) > 0;
}

void check_options(const ir::Model& model, const MeasureOptions& o) {
  for (auto& [name, bits] : o.storage_bits) {
    if (bits < 1 || bits > 64)
      throw InputError("storage bits of tensor '" + name + "' is " + std::to_string(bits) +
                       "; it must be between 1 and 64");
    if (!model.tensors.count(name))
      throw InputError("storage bits given for tensor '" + name +
                       "', which the model does not have (check the name against `compress inspect`)");
  }
  if (o.latency) {
    if (o.repeats < 1) throw InputError("latency repeats must be at least 1, got " + std::to_string(o.repeats));
    if (o.warmup < 0) throw InputError("latency warm-up runs must be 0 or more, got " + std::to_string(o.warmup));
    for (int64_t b : o.latency_batches)
      if (b < 1) throw InputError("latency batch size must be at least 1, got " + std::to_string(b));
  }
}

bool all_shapes_known(const ir::Model& model) {
  for (const ir::Node* n : model.graph.nodes())
    for (const ir::Value* v : n->outputs())
      if (!v->type().has_shape) return false;
  return true;
}

}  // namespace

double measure_latency_ms(ir::Model& model, int64_t batch, int repeats, int warmup) {
  if (model.graph.inputs().empty()) throw InputError("cannot measure latency: the model has no inputs");
  c10::Device device(c10::kCPU);
  if (!model.tensors.empty()) device = model.tensors.begin()->second.device();

  std::vector<at::Tensor> inputs;
  try {
    inputs = runtime::random_inputs(model, batch, device);  // token ids within the embedding's rows
  } catch (const InputError& e) {
    throw InputError(std::string("cannot measure latency: ") + e.what());
  }

  runtime::Executor ex(model);
  auto run_once = [&] {
    std::vector<at::Tensor> out = ex.run(inputs);
    // On an asynchronous device, reading one element waits for the computation to finish.
    if (!device.is_cpu() && !out.empty() && out[0].numel() > 0) (void)out[0].flatten()[0].item<double>();
  };
  for (int i = 0; i < warmup; ++i) run_once();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(repeats));
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run_once();
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

Metrics measure(ir::Model& model, const MeasureOptions& options) {
  ir::register_core_ops();
  check_options(model, options);
  if (!all_shapes_known(model)) model.infer_shapes();

  auto bits_of = [&](const std::string& name) {
    auto it = options.storage_bits.find(name);
    return it == options.storage_bits.end() ? 32 : it->second;
  };

  Metrics m;
  std::map<std::string, int64_t> nonzero_cache;
  auto nonzero = [&](const std::string& name) {
    auto it = nonzero_cache.find(name);
    if (it != nonzero_cache.end()) return it->second;
    int64_t nz = model.tensor(name).count_nonzero().item<int64_t>();
    nonzero_cache[name] = nz;
    return nz;
  };

  // Tensors the graph refers to, each counted once however many nodes read it.
  std::set<std::string> seen;
  for (const ir::Node* n : model.graph.nodes()) {
    if (!is_source(n)) continue;
    const std::string& name = n->attrs().s("name");
    if (!seen.insert(name).second) continue;
    int64_t elements = model.tensor(name).numel();
    m.bytes_fp32 += 4 * elements;
    m.bytes_stored += storage_bytes(elements, bits_of(name));
    if (n->op() == "param") {
      m.params += elements;
      m.nonzero_params += nonzero(name);
    }
  }

  for (const ir::Node* n : model.graph.nodes()) {
    if (is_source(n)) continue;
    int64_t macs = ir::node_macs(*n);
    m.macs += macs;
    if (!options.per_layer) continue;
    LayerRow row;
    row.scope = n->scope();
    row.op = n->op();
    row.macs = macs;
    int64_t largest = -1;
    std::set<std::string> read;
    for (const ir::Value* v : n->inputs()) {
      const ir::Node* p = v->producer();
      if (!p || p->op() != "param") continue;
      const std::string& name = p->attrs().s("name");
      if (!read.insert(name).second) continue;
      int64_t elements = model.tensor(name).numel();
      row.params += elements;
      row.nonzero_params += nonzero(name);
      if (elements > largest) {
        largest = elements;
        row.bits = bits_of(name);
      }
    }
    if (!is_compute_op(n->op()) && row.params == 0 && macs == 0) continue;
    if (!n->outputs().empty()) row.output_shape = n->output(0)->shape();
    m.layers.push_back(std::move(row));
  }

  if (options.latency) {
    for (int64_t b : options.latency_batches)
      m.latency_ms[b] = measure_latency_ms(model, b, options.repeats, options.warmup);
  }
  return m;
}

namespace {
// Three significant digits: 1.23, 12.3, 123.
std::string three_digits(double v, const char* unit) {
  char buf[64];
  if (v < 9.995)
    std::snprintf(buf, sizeof buf, "%.2f%s", v, unit);
  else if (v < 99.95)
    std::snprintf(buf, sizeof buf, "%.1f%s", v, unit);
  else
    std::snprintf(buf, sizeof buf, "%.0f%s", v, unit);
  return buf;
}
}  // namespace

std::string human_bytes(int64_t bytes) {
  if (bytes < 0) return "-" + human_bytes(-bytes);
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static const char* kUnits[] = {" KiB", " MiB", " GiB", " TiB", " PiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  int u = 0;
  while (v >= 999.5 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return three_digits(v, kUnits[u]);
}

std::string human_count(int64_t n) {
  if (n < 0) return "-" + human_count(-n);
  if (n < 1000) return std::to_string(n);
  static const char* kUnits[] = {"K", "M", "G", "T", "P"};
  double v = static_cast<double>(n) / 1000.0;
  int u = 0;
  while (v >= 999.5 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  return three_digits(v, kUnits[u]);
}

}  // namespace mc::report
