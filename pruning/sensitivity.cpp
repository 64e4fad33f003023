#include "pruning/sensitivity.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "pruning/magnitude.h"

namespace mc::prune {

nlohmann::json SensitivityTable::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < layers.size(); ++i)
    rows.push_back({{"scope", layers[i].scope}, {"param", layers[i].param}, {"numel", numel[i]}, {"top1", top1[i]}});
  return {{"baseline_top1", baseline_top1}, {"ratios", ratios}, {"layers", rows}};
}

std::string SensitivityTable::to_csv() const {
  std::ostringstream os;
  os.precision(6);
  os << "layer,param,numel";
  for (double r : ratios) os << "," << r;
  os << "\n";
  for (size_t i = 0; i < layers.size(); ++i) {
    os << layers[i].scope << "," << layers[i].param << "," << numel[i];
    for (double a : top1[i]) os << "," << a;
    os << "\n";
  }
  return os.str();
}

SensitivityTable analyze_sensitivity(ir::Model& model, const std::vector<pipeline::WeightLayer>& layers,
                                     const std::vector<double>& ratios, const EvalFn& eval) {
  SensitivityTable t;
  t.ratios = ratios;
  t.layers = layers;
  t.baseline_top1 = eval();
  at::NoGradGuard no_grad;
  for (const auto& w : layers) {
    at::Tensor& weight = model.tensors.at(w.param);
    const at::Tensor original = weight.detach().clone();
    t.numel.push_back(weight.numel());
    std::vector<double> row;
    for (double r : ratios) {
      weight.copy_(original * magnitude_mask(original, r).to(original.scalar_type()));
      row.push_back(eval());
      weight.copy_(original);
    }
    spdlog::info("sensitivity: {:<24} top-1 at {:.2f}: {:.4f}  at {:.2f}: {:.4f}", w.scope, ratios.front(), row.front(),
                 ratios.back(), row.back());
    t.top1.push_back(std::move(row));
  }
  return t;
}

namespace {
std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}
std::string num(double v) {
  std::ostringstream os;
  os.precision(5);
  os << v;
  return os.str();
}
}  // namespace

std::string sensitivity_svg(const SensitivityTable& t) {
  // Plot area [x0, x1] x [y0, y1] in pixels; x = ratio in [0, 1], y = top-1 in [lo, 1] where lo is
  // the lowest measured accuracy rounded down to a tenth.
  const double width = 860, height = 480, x0 = 70, x1 = 600, y0 = 40, y1 = 420;
  double lo = t.baseline_top1;
  for (const auto& row : t.top1)
    for (double a : row) lo = std::min(lo, a);
  lo = std::max(0.0, std::floor(lo * 10.0) / 10.0);
  if (lo >= 1.0) lo = 0.9;
  auto px = [&](double r) { return x0 + r * (x1 - x0); };
  auto py = [&](double a) { return y1 - (a - lo) / (1.0 - lo) * (y1 - y0); };

  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
    << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<title>Pruning sensitivity: top-1 vs. ratio, one layer pruned at a time</title>\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  // Grid and axes.
  for (int i = 0; i <= 10; ++i) {
    const double r = i / 10.0;
    s << "<line x1=\"" << num(px(r)) << "\" y1=\"" << y0 << "\" x2=\"" << num(px(r)) << "\" y2=\"" << y1
      << "\" stroke=\"#eee\"/>\n"
      << "<text x=\"" << num(px(r)) << "\" y=\"" << y1 + 18 << "\" text-anchor=\"middle\">" << num(r) << "</text>\n";
  }
  const int ysteps = static_cast<int>(std::lround((1.0 - lo) * 20));
  for (int i = 0; i <= ysteps; ++i) {
    const double a = lo + i * (1.0 - lo) / std::max(1, ysteps);
    s << "<line x1=\"" << x0 << "\" y1=\"" << num(py(a)) << "\" x2=\"" << x1 << "\" y2=\"" << num(py(a))
      << "\" stroke=\"#eee\"/>\n"
      << "<text x=\"" << x0 - 6 << "\" y=\"" << num(py(a) + 4) << "\" text-anchor=\"end\">" << num(a * 100) << "%</text>\n";
  }
  s << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << x1 - x0 << "\" height=\"" << y1 - y0
    << "\" fill=\"none\" stroke=\"#333\"/>\n"
    << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << height - 12 << "\" text-anchor=\"middle\">pruning ratio of the layer</text>\n"
    << "<text x=\"18\" y=\"" << (y0 + y1) / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << (y0 + y1) / 2
    << ")\">top-1</text>\n"
    << "<text x=\"" << x0 << "\" y=\"24\" font-size=\"14\">Pruning sensitivity (baseline top-1 "
    << num(t.baseline_top1 * 100) << "%)</text>\n";
  s << "<line x1=\"" << x0 << "\" y1=\"" << num(py(t.baseline_top1)) << "\" x2=\"" << x1 << "\" y2=\""
    << num(py(t.baseline_top1)) << "\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>\n";
  // One polyline per layer, colours spread around the hue circle; legend on the right.
  for (size_t i = 0; i < t.layers.size(); ++i) {
    const int hue = static_cast<int>((i * 360) / std::max<size_t>(1, t.layers.size()));
    const std::string colour = "hsl(" + std::to_string(hue) + ",70%,42%)";
    s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\" points=\"";
    for (size_t j = 0; j < t.ratios.size(); ++j)
      s << (j ? " " : "") << num(px(t.ratios[j])) << "," << num(py(t.top1[i][j]));
    s << "\"><title>" << xml_escape(t.layers[i].scope) << "</title></polyline>\n";
    const double ly = y0 + 8 + 18.0 * static_cast<double>(i);
    s << "<line x1=\"" << x1 + 20 << "\" y1=\"" << num(ly) << "\" x2=\"" << x1 + 44 << "\" y2=\"" << num(ly)
      << "\" stroke=\"" << colour << "\" stroke-width=\"3\"/>\n"
      << "<text x=\"" << x1 + 50 << "\" y=\"" << num(ly + 4) << "\">" << xml_escape(t.layers[i].scope) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace mc::prune
