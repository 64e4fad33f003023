#include "quantization/adaround.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>

#include "common/error.h"
#include "ir/passes/pass_util.h"
#include "runtime/executor.h"
#include "train/progress.h"

namespace mc::quant {

namespace {

std::vector<int64_t> pair_attr(const ir::Node& n, const char* key, int64_t dflt) {
  auto v = n.attrs().is(key, {dflt, dflt});
  if (v.size() == 1) v.push_back(v[0]);
  return v;
}

// Per-row column of a per-channel (or per-tensor) vector, for a weight viewed as [Cout, K].
at::Tensor column(const at::Tensor& v, int64_t rows) {
  at::Tensor c = v.reshape({-1, 1}).to(at::kFloat);
  return c.size(0) == 1 ? c.expand({rows, 1}) : c;
}

// Input rows of a conv chunk: [groups, n * L, K] from x [n, C, H, W].
at::Tensor conv_rows(const LayerGeometry& g, const at::Tensor& x) {
  at::Tensor cols = at::im2col(x, g.kernel, g.dilation, g.padding, g.stride);  // [n, C*kh*kw, L]
  const int64_t n = cols.size(0), L = cols.size(2);
  return cols.view({n, g.groups, -1, L}).permute({1, 0, 3, 2}).reshape({g.groups, n * L, -1});
}

// Output rows of a conv chunk: [groups, n * L, Cout/groups] from y [n, Cout, Ho, Wo].
at::Tensor conv_out_rows(const LayerGeometry& g, const at::Tensor& y) {
  const int64_t n = y.size(0), L = y.size(2) * y.size(3);
  return y.reshape({n, g.groups, -1, L}).permute({1, 0, 3, 2}).reshape({g.groups, n * L, -1});
}

}  // namespace

LayerGeometry LayerGeometry::of(const ir::Node& layer, const at::Tensor& weight) {
  LayerGeometry g;
  if (layer.op() == "conv2d") {
    if (weight.dim() != 4) throw Error("adaround: conv2d weight of " + layer.scope() + " is not 4-d");
    g.conv = true;
    g.kernel = {weight.size(2), weight.size(3)};
    g.stride = pair_attr(layer, "stride", 1);
    g.padding = pair_attr(layer, "padding", 0);
    g.dilation = pair_attr(layer, "dilation", 1);
    g.groups = layer.attrs().i("groups", 1);
  } else if (layer.op() == "linear") {
    if (weight.dim() != 2) throw Error("adaround: linear weight of " + layer.scope() + " is not 2-d");
  } else {
    throw Error("adaround: op '" + layer.op() + "' at scope '" + layer.scope() + "' is not conv2d or linear");
  }
  return g;
}

at::Tensor LayerGeometry::apply(const at::Tensor& x, const at::Tensor& w) const {
  if (conv) return at::conv2d(x, w, {}, stride, padding, dilation, groups);
  return at::linear(x, w);
}

void LayerStats::add(const LayerGeometry& g, const at::Tensor& x_q, const at::Tensor& y) {
  std::vector<std::pair<at::Tensor, at::Tensor>> chunks;  // (input rows, output rows), each [groups, R, .]
  if (g.conv) {
    // Chunks of samples keep the im2col buffer near 4M floats.
    const int64_t per_sample = std::max<int64_t>(1, x_q[0].numel() * g.kernel[0] * g.kernel[1]);
    const int64_t step = std::max<int64_t>(1, (int64_t(1) << 22) / per_sample);
    for (int64_t i = 0; i < x_q.size(0); i += step) {
      const int64_t e = std::min(x_q.size(0), i + step);
      chunks.emplace_back(conv_rows(g, x_q.slice(0, i, e).to(at::kFloat)), conv_out_rows(g, y.slice(0, i, e).to(at::kFloat)));
    }
  } else {
    chunks.emplace_back(x_q.reshape({1, -1, x_q.size(-1)}).to(at::kFloat), y.reshape({1, -1, y.size(-1)}).to(at::kFloat));
  }
  for (auto& [p, t] : chunks) {
    at::Tensor gr = at::bmm(p.transpose(1, 2), p).to(at::kDouble);
    at::Tensor cr = at::bmm(t.transpose(1, 2), p).to(at::kDouble);
    gram = gram.defined() ? gram + gr : gr;
    cross = cross.defined() ? cross + cr : cr;
    target_sq += t.to(at::kDouble).square().sum().item<double>();
    rows += p.size(1);
    out_channels = t.size(0) * t.size(2);
  }
}

double LayerStats::mse(const at::Tensor& w) const {
  if (rows == 0) throw Error("adaround: no statistics gathered");
  at::Tensor wt = w.detach().to(at::kDouble).reshape({gram.size(0), -1, gram.size(1)});
  double s = target_sq - 2.0 * (cross * wt).sum().item<double>() + (at::bmm(wt, gram) * wt).sum().item<double>();
  return std::max(0.0, s) / static_cast<double>(rows * out_channels);
}

RoundingResult adaround_weight(const at::Tensor& w, const WeightGrid& grid, const LayerStats& stats,
                               const AdaRoundOptions& o, const std::function<void(int64_t, double)>& progress) {
  at::NoGradGuard no_grad;
  constexpr double zeta = AdaRoundOptions::zeta, gamma = AdaRoundOptions::gamma;
  const int64_t cout = w.size(0);
  const int64_t groups = stats.gram.size(0), k = stats.gram.size(1);
  at::Tensor wm = w.detach().to(at::kFloat).reshape({cout, -1});
  if (wm.size(1) != k || cout != stats.out_channels)
    throw Error("adaround: weight of shape " + std::to_string(cout) + "x" + std::to_string(wm.size(1)) +
                " does not match the gathered statistics (" + std::to_string(stats.out_channels) + "x" + std::to_string(k) + ")");
  const at::Tensor s = column(grid.scale, cout);
  const at::Tensor z = column(grid.zero_point.to(at::kFloat).round(), cout);
  const double qmin = static_cast<double>(grid.quant_min), qmax = static_cast<double>(grid.quant_max);

  RoundingResult r;
  at::Tensor zp_int = grid.zero_point.reshape({-1}).round().to(at::kInt);
  r.nearest = grid.scale.numel() == 1
                  ? at::fake_quantize_per_tensor_affine(w.detach().to(at::kFloat), grid.scale.reshape({-1}).to(at::kFloat),
                                                        zp_int, grid.quant_min, grid.quant_max)
                  : at::fake_quantize_per_channel_affine(w.detach().to(at::kFloat), grid.scale.to(at::kFloat), zp_int, 0,
                                                         grid.quant_min, grid.quant_max);

  // w / s as ATen's fake-quantize computes it (times the float reciprocal of the scale).
  const at::Tensor x = wm * (1.0f / s);
  const at::Tensor fl = at::floor(x);
  const at::Tensor frac = x - fl;
  // h(V) = frac: sigmoid(V) = (frac - gamma) / (zeta - gamma).
  at::Tensor ratio = (frac - gamma) / (zeta - gamma);
  at::Tensor v = at::log(ratio / (1.0 - ratio));

  const double inv_rows = 1.0 / static_cast<double>(stats.rows);
  const at::Tensor g = (stats.gram * inv_rows).to(at::kFloat);
  const at::Tensor c = (stats.cross * inv_rows).to(at::kFloat);
  const double const_term = stats.target_sq * inv_rows;

  // The iteration runs as two fused element loops around one batched product (ATen's per-op
  // overhead would dominate on small layers): W~ from V, then W~ G, then the loss gradient in V,
  // the regulariser and Adam's update (torch.optim.Adam, no weight decay) per element.
  v = v.contiguous();
  at::Tensor wt = at::empty_like(v), sigm = at::empty_like(v), m1 = at::zeros_like(v), m2 = at::zeros_like(v);
  float* pv = v.data_ptr<float>();
  float* pw = wt.data_ptr<float>();
  float* psig = sigm.data_ptr<float>();
  float* pm1 = m1.data_ptr<float>();
  float* pm2 = m2.data_ptr<float>();
  const at::Tensor flc = fl.contiguous(), sc = s.contiguous(), zc = z.contiguous();
  const float* pfl = flc.data_ptr<float>();
  const float* ps = sc.data_ptr<float>();
  const float* pz = zc.data_ptr<float>();
  const at::Tensor cc = c.contiguous().view({cout, k});
  const float* pc = cc.data_ptr<float>();
  const double b1 = 0.9, b2 = 0.999, adam_eps = 1e-8;
  const float span_h = static_cast<float>(zeta - gamma), fgamma = static_cast<float>(gamma);
  const float fqmin = static_cast<float>(qmin), fqmax = static_cast<float>(qmax);
  const int64_t warm = static_cast<int64_t>(std::llround(o.warmup * static_cast<double>(o.iterations)));
  const int64_t n = cout * k;
  for (int64_t t = 0; t < o.iterations; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      const float sg = 1.0f / (1.0f + std::exp(-pv[i]));
      psig[i] = sg;
      const float h = std::clamp(sg * span_h + fgamma, 0.0f, 1.0f);
      const int64_t row = i / k;
      pw[i] = ps[row] * (std::clamp(pfl[i] + h + pz[row], fqmin, fqmax) - pz[row]);
    }
    const at::Tensor wg = at::bmm(wt.view({groups, -1, k}), g).contiguous();
    const float* pwg = wg.data_ptr<float>();
    const bool reg = t >= warm && o.reg_weight > 0;
    double beta = 0.0;
    if (reg) {
      const double rel = static_cast<double>(t - warm) / static_cast<double>(std::max<int64_t>(1, o.iterations - warm));
      beta = o.beta[1] + (o.beta[0] - o.beta[1]) * std::max(0.0, 1.0 - rel);
    }
    const float lam = static_cast<float>(o.reg_weight), fbeta = static_cast<float>(beta);
    const double bc1 = 1.0 - std::pow(b1, static_cast<double>(t + 1));
    const double bc2 = 1.0 - std::pow(b2, static_cast<double>(t + 1));
    const float step = static_cast<float>(o.lr / bc1), inv_bc2 = static_cast<float>(1.0 / bc2);
    double rec = const_term;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = i / k;
      rec += static_cast<double>((pwg[i] - 2.0f * pc[i]) * pw[i]);
      const float sg = psig[i];
      const float hraw = sg * span_h + fgamma;
      const float h = std::clamp(hraw, 0.0f, 1.0f);
      const float u = pfl[i] + h + pz[row];
      // d rec / d W~ = 2 (W~ G - C); W~ = s (clamp(u) - z) passes the gradient inside the grid.
      float dh = (u >= fqmin && u <= fqmax) ? 2.0f * (pwg[i] - pc[i]) * ps[row] : 0.0f;
      if (reg) {
        // d/dh (1 - |2h - 1|^beta) = -2 beta |2h - 1|^(beta - 1) sign(2h - 1)
        const float a = 2.0f * h - 1.0f;
        const float mag = std::max(std::fabs(a), 1e-6f);
        dh -= lam * 2.0f * fbeta * std::pow(mag, fbeta - 1.0f) * (a > 0 ? 1.0f : a < 0 ? -1.0f : 0.0f);
      }
      const float dv = (hraw >= 0.0f && hraw <= 1.0f) ? dh * span_h * sg * (1.0f - sg) : 0.0f;
      pm1[i] = static_cast<float>(b1) * pm1[i] + static_cast<float>(1.0 - b1) * dv;
      pm2[i] = static_cast<float>(b2) * pm2[i] + static_cast<float>(1.0 - b2) * dv * dv;
      pv[i] -= step * pm1[i] / (std::sqrt(pm2[i] * inv_bc2) + static_cast<float>(adam_eps));
    }
    if (progress) progress(t, rec);
  }
  // Hard rounding: down where h(V) < 0.5, up otherwise (h(V) >= 0.5 <=> V >= 0).
  at::Tensor up = ((at::sigmoid(v) * (zeta - gamma) + gamma) >= 0.5).to(at::kFloat);
  at::Tensor q = (fl + up + z).clamp(qmin, qmax) - z;
  r.weight = (q * s).reshape(w.sizes()).contiguous();
  r.changed = (r.weight != r.nearest).sum().item<int64_t>();
  r.mse_nearest = stats.mse(r.nearest);
  r.mse_adaround = stats.mse(r.weight);
  return r;
}

namespace {

struct Selected {
  size_t order;
  ir::Node* layer;
  const WeightQuantizer* wq;
  WeightGrid grid;
};

// Thrown by the statistics hooks to end a forward pass early (the rest of the model is not needed).
struct StopForward {};

// The value the float model holds where the quantized layer reads `v` (through its fake_quants).
std::string float_name(const ir::Value* v) {
  while (v->producer() && v->producer()->op() == "fake_quant") v = v->producer()->input(0);
  return v->name();
}

}  // namespace

AdaRoundSummary adaround(ir::Model& m, const ir::Model& float_model, const QuantPlan& plan, data::DataLoader& loader,
                         const AdaRoundOptions& o) {
  at::NoGradGuard no_grad;
  AdaRoundSummary summary;
  std::map<const ir::Node*, size_t> position;
  for (ir::Node* n : m.graph.nodes()) position.emplace(n, position.size());

  std::vector<Selected> sel;
  for (const auto& w : plan.weights) {
    const std::string who = w.scope.empty() ? w.name : w.scope;
    ir::Value* out = m.graph.find_value(w.layer);
    ir::Node* layer = out ? out->producer() : nullptr;
    if (!layer) continue;
    const int64_t bits = w.spec.storage_bits();
    if (w.spec.type != "int") {
      summary.skipped.emplace_back(who, w.spec.type + " weights");
      continue;
    }
    if (bits > kAdaRoundMaxBits && !o.all_bits) {
      summary.skipped.emplace_back(who, std::to_string(bits) + " bits (all_bits: false)");
      continue;
    }
    if (layer->op() != "conv2d" && layer->op() != "linear") {
      summary.skipped.emplace_back(who, "op " + layer->op() + " (only conv2d and linear)");
      continue;
    }
    ir::Node* fq = layer->input(w.input)->producer();
    ir::Node* src = fq && fq->op() == "fake_quant" ? fq->input(0)->producer() : nullptr;
    if (!src || (src->op() != "param" && src->op() != "constant") || src->attrs().s("name") != w.tensor) {
      summary.skipped.emplace_back(who, "the weight is not a stored tensor read by its fake_quant");
      continue;
    }
    const int64_t axis = fq->attrs().i("axis", -1);
    if (axis != -1 && axis != 0) {
      summary.skipped.emplace_back(who, "per-channel axis " + std::to_string(axis) + " (only output channels)");
      continue;
    }
    WeightGrid grid;
    grid.scale = ir::passes::static_value(m, fq->input(1));
    grid.zero_point = ir::passes::static_value(m, fq->input(2));
    grid.quant_min = fq->attrs().i("quant_min");
    grid.quant_max = fq->attrs().i("quant_max");
    if (!grid.scale.defined() || !grid.zero_point.defined()) {
      summary.skipped.emplace_back(who, "scale or zero point is not constant");
      continue;
    }
    sel.push_back({position.at(layer), layer, &w, grid});
  }
  std::sort(sel.begin(), sel.end(), [](const Selected& a, const Selected& b) { return a.order < b.order; });
  if (sel.empty()) return summary;

  ir::Model& fm = const_cast<ir::Model&>(float_model);  // the executor only reads it
  runtime::Executor exq(m), exf(fm);
  for (size_t i = 0; i < sel.size(); ++i) {
    const Selected& s = sel[i];
    const std::string who = s.wq->scope.empty() ? s.wq->name : s.wq->scope;
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor& weight = m.tensors.at(s.wq->tensor);
    const at::Tensor w_float = weight.detach().clone();
    LayerGeometry geo = LayerGeometry::of(*s.layer, w_float);
    train::ProgressOptions popt;
    popt.label = "adaround";
    auto bar = std::make_unique<train::Progress>(popt, static_cast<int64_t>(sel.size()), o.iterations);
    bar->begin_epoch(static_cast<int64_t>(i));
    bar->status(who + " gathering input statistics");
    LayerStats stats;
    const std::string qname = s.layer->input(0)->name(), fname = float_name(s.layer->input(0));
    if (o.asymmetric && !fm.graph.find_value(fname))
      throw Error("adaround: the float model has no value '" + fname + "' (input of " + who + ")");
    // Each forward stops (StopForward from the hook) once the layer's input is seen.
    at::Tensor x_float;
    int hf = o.asymmetric ? exf.add_hook(fname, [&](const ir::Value&, const at::Tensor& t) {
      x_float = t;
      throw StopForward{};
    }) : -1;
    int hq = exq.add_hook(qname, [&](const ir::Value&, const at::Tensor& t) {
      stats.add(geo, t, geo.apply(o.asymmetric ? x_float : t, w_float));
      throw StopForward{};
    });
    auto run_to_hook = [](runtime::Executor& ex, const std::vector<at::Tensor>& x) {
      try {
        ex.run(x);
      } catch (const StopForward&) {
      }
    };
    loader.reset(0);
    data::Batch b;
    int64_t samples = 0;
    for (int64_t n = 0; (o.batches <= 0 || n < o.batches) && loader.next(b); ++n) {
      if (o.asymmetric) run_to_hook(exf, b.inputs());
      run_to_hook(exq, b.inputs());
      samples += b.images.size(0);
    }
    const double stats_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    exq.remove_hook(hq);
    if (hf >= 0) exf.remove_hook(hf);
    if (samples == 0 || stats.rows == 0) throw InputError("adaround: the calib split has no samples");
    summary.samples = samples;

    RoundingResult r;
    {
      const auto t1 = std::chrono::steady_clock::now();
      auto last = t1;
      r = adaround_weight(w_float, s.grid, stats, o, [&](int64_t it, double loss) {
        if (!bar->bar()) return;
        auto now = std::chrono::steady_clock::now();
        if (it + 1 != o.iterations && std::chrono::duration<double>(now - last).count() < 0.1) return;
        last = now;
        const double done = static_cast<double>(it + 1) / static_cast<double>(o.iterations);
        const double el = std::chrono::duration<double>(now - t1).count();
        const int filled = static_cast<int>(done * 20);
        char tail[96];
        std::snprintf(tail, sizeof tail, "] %3d%%  loss %.4g  ETA ", static_cast<int>(done * 100), loss);
        bar->status(who + " [" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(20 - filled), '.') +
                   tail + train::Progress::format_duration(el / done - el));
      });
    }
    bar.reset();  // erases the bar before the layer's log line
    weight.copy_(r.weight.to(weight.scalar_type()).reshape(weight.sizes()));

    AdaRoundLayer l;
    l.layer = who;
    l.bits = s.wq->spec.storage_bits();
    l.weights = w_float.numel();
    l.mse_nearest = r.mse_nearest;
    l.mse_adaround = r.mse_adaround;
    l.changed_fraction = static_cast<double>(r.changed) / static_cast<double>(l.weights);
    l.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("adaround {}/{}: {} ({} bits, {} weights): output MSE {:.4g} nearest -> {:.4g}, {:.1f}% rounded "
                 "differently, {:.2f} s",
                 i + 1, sel.size(), who, l.bits, l.weights, l.mse_nearest, l.mse_adaround, 100.0 * l.changed_fraction,
                 l.seconds);
    spdlog::debug("adaround: {} statistics on {} rows in {:.2f} s", who, stats.rows, stats_seconds);
    summary.layers.push_back(l);
  }
  return summary;
}

}  // namespace mc::quant
