#include "lowrank/layer_cost.h"

#include <algorithm>

#include "common/error.h"

namespace mc::lowrank {

LayerShape layer_shape(const ir::Node& n) {
  LayerShape s;
  const ir::Shape& y = n.output()->shape();
  if (n.op() == "conv2d") {
    const ir::Shape& x = n.input(0)->shape();
    const ir::Shape& wt = n.input(1)->shape();
    if (x.size() != 4 || wt.size() != 4 || y.size() != 4) throw Error(n.describe() + ": conv2d shapes are not inferred");
    s.conv = true;
    s.groups = n.attrs().i("groups", 1);
    s.out = wt[0];
    s.in = wt[1] * s.groups;
    s.kh = wt[2];
    s.kw = wt[3];
    s.batch = x[0];
    s.h = x[2];
    s.w = x[3];
    s.ho = y[2];
    s.wo = y[3];
    return s;
  }
  if (n.op() != "linear" && n.op() != "matmul") throw Error(n.describe() + ": not a conv2d, linear or matmul");
  const ir::Shape& a = n.input(0)->shape();
  const ir::Shape& b = n.input(1)->shape();
  if (y.empty() || a.empty() || b.size() < 1) throw Error(n.describe() + ": shapes are not inferred");
  int64_t numel = 1;
  for (int64_t d : y) numel *= d;
  if (n.op() == "linear") {
    s.out = b[0];
    s.in = b[1];
  } else if (b.size() == 2 && a.size() >= 2 && n.input(1)->producer() && n.input(1)->producer()->refers_to_tensor()) {
    s.in = b[0];  // x @ W, W [in, out]
    s.out = b[1];
  } else {
    s.out = a[0];  // W @ x, W [out, in]
    s.in = a[1];
  }
  s.rows = s.out > 0 ? numel / s.out : 0;
  return s;
}

Cost dense_cost(const LayerShape& s) {
  if (!s.conv) return {s.rows * s.out * s.in, s.out * s.in};
  const int64_t k = s.in / s.groups * s.kh * s.kw;
  return {s.batch * s.ho * s.wo * s.out * k, s.out * k};
}

Cost factor_cost(const LayerShape& s, ConvMethod method, const Ranks& r) {
  if (!s.conv) return {s.rows * r[0] * (s.in + s.out), r[0] * (s.in + s.out)};
  const int64_t out_px = s.batch * s.ho * s.wo, in_px = s.batch * s.h * s.w, mid_px = s.batch * s.ho * s.w;
  const int64_t n = s.out, c = s.in, kh = s.kh, kw = s.kw;
  switch (method) {
    case ConvMethod::channel_svd: return {out_px * r[0] * (c * kh * kw + n), r[0] * (c * kh * kw + n)};
    case ConvMethod::spatial_svd:
      return {mid_px * r[0] * c * kh + out_px * n * r[0] * kw, r[0] * c * kh + n * r[0] * kw};
    case ConvMethod::tucker2:
      return {in_px * r[0] * c + out_px * (r[1] * r[0] * kh * kw + n * r[1]),
              r[0] * c + r[1] * r[0] * kh * kw + n * r[1]};
    case ConvMethod::cp:
      return {in_px * r[0] * c + mid_px * r[0] * kh + out_px * r[0] * (kw + n), r[0] * (c + kh + kw + n)};
  }
  return {};
}

Ranks max_ranks(const LayerShape& s, ConvMethod method) {
  if (!s.conv) return {std::min(s.out, s.in)};
  switch (method) {
    case ConvMethod::channel_svd: return {std::min(s.out, s.in * s.kh * s.kw)};
    case ConvMethod::spatial_svd: return {std::min(s.in * s.kh, s.out * s.kw)};
    case ConvMethod::tucker2: return {std::min(s.in, s.out * s.kh * s.kw), std::min(s.out, s.in * s.kh * s.kw)};
    case ConvMethod::cp: return {std::min(s.in, s.out) * s.kh * s.kw};
  }
  return {};
}

std::string shape_text(const LayerShape& s) {
  if (!s.conv) return std::to_string(s.out) + "x" + std::to_string(s.in) + " linear";
  return std::to_string(s.out) + "x" + std::to_string(s.in) + "x" + std::to_string(s.kh) + "x" + std::to_string(s.kw) +
         " conv";
}

std::string ranks_text(const Ranks& r) {
  std::string t = "[";
  for (size_t i = 0; i < r.size(); ++i) t += (i ? ", " : "") + std::to_string(r[i]);
  return t + "]";
}

std::string rank_problem(const LayerShape& s, ConvMethod method, const Ranks& r) {
  const Ranks max = max_ranks(s, method);
  const std::string name = s.conv ? method_name(method) : "svd";
  if (r.size() != max.size())
    return name + " takes " + (max.size() == 2 ? "two ranks [r_in, r_out]" : "one rank") + ", got " + ranks_text(r);
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] < 1) return "ranks must be at least 1, got " + ranks_text(r);
    if (r[i] > max[i])
      return "rank " + ranks_text(r) + " exceeds the maximum " + ranks_text(max) + " of " + name + " on this " +
             shape_text(s);
  }
  return "";
}

}  // namespace mc::lowrank
