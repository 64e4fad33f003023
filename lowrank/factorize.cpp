#include "lowrank/factorize.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "lowrank/cp_als.h"
#include "lowrank/rewrite.h"
#include "lowrank/svd.h"
#include "lowrank/tucker.h"

namespace mc::lowrank {

at::Tensor layer_weight(const ir::Model& m, const ir::Node& n) {
  return n.op() == "conv2d" ? conv_weight(m, &n) : linear_weight(m, &n);
}

Ranks tucker2_ranks_within(const LayerShape& s, int64_t macs, int64_t round_to) {
  const int64_t big = std::max(s.in, s.out);
  Ranks best{1, 1};
  for (int64_t t = 1; t <= big; ++t) {
    const Ranks r{std::max<int64_t>(1, t * s.in / big), std::max<int64_t>(1, t * s.out / big)};
    if (factor_cost(s, ConvMethod::tucker2, r).macs > macs) break;
    best = r;
  }
  if (round_to <= 1) return best;
  const Ranks max = max_ranks(s, ConvMethod::tucker2);
  Ranks rounded;
  for (size_t i = 0; i < 2; ++i)
    rounded.push_back(std::min(max[i], std::max(round_to, best[i] / round_to * round_to)));
  return factor_cost(s, ConvMethod::tucker2, rounded).macs <= macs ? rounded : best;
}

namespace {
double rel_error_of(const at::Tensor& w, const at::Tensor& approx) {
  const at::Tensor wd = w.detach().to(at::kDouble);
  const double norm = wd.norm().item<double>();
  return norm > 0 ? (wd - approx).norm().item<double>() / norm : 0.0;
}

ConvFactors conv_factors(const at::Tensor& w, ConvMethod method, const Ranks& r) {
  switch (method) {
    case ConvMethod::channel_svd: return channel_svd(w, r[0]);
    case ConvMethod::spatial_svd: return spatial_svd(w, r[0]);
    case ConvMethod::tucker2: return tucker2(w, r[0], r[1]);
    case ConvMethod::cp: break;
  }
  throw Error("conv_factors: cp goes through cp_als / cp_exact");
}

void factor_cp(const at::Tensor& w, const LayerShape& s, const Ranks& ranks, const CpSettings& cp, Factored& f) {
  const bool exact = ranks[0] == max_ranks(s, ConvMethod::cp)[0];
  CpOptions o;
  o.max_iters = cp.max_iters;
  const CpResult r = exact ? cp_exact(w) : cp_als(w, ranks[0], o);
  f.cp_error = r.rel_error;
  f.cp_iterations = r.iterations;
  if (r.rel_error <= cp.max_error) {
    f.factors = r.factors;
    return;
  }
  f.cp_fallback = true;
  f.method = ConvMethod::tucker2;
  f.ranks = tucker2_ranks_within(s, factor_cost(s, ConvMethod::cp, ranks).macs, cp.round_to);
  f.factors = tucker2(w, f.ranks[0], f.ranks[1]);
}
}  // namespace

Factored factorize(const at::Tensor& w, const LayerShape& s, ConvMethod method, const Ranks& ranks,
                   const CpSettings& cp) {
  const std::string why = rank_problem(s, method, ranks);
  if (!why.empty()) throw Error("factorize: " + why);
  Factored f;
  f.conv = s.conv;
  f.method = method;
  f.ranks = ranks;
  if (!s.conv)
    f.linear = svd_linear(w, ranks[0]);
  else if (method == ConvMethod::cp)
    factor_cp(w, s, ranks, cp, f);
  else
    f.factors = conv_factors(w, method, ranks);
  f.rel_error = rel_error_of(w, reconstruct(f));
  return f;
}

at::Tensor reconstruct(const Factored& f) {
  if (!f.conv) return f.linear.second.to(at::kDouble).mm(f.linear.first.to(at::kDouble));
  std::vector<at::Tensor> w;
  for (const auto& t : f.factors.weights) w.push_back(t.to(at::kDouble).flatten(1));  // [out, in kh kw]
  const auto& sh = f.factors.weights;
  switch (f.factors.method) {
    case ConvMethod::channel_svd:  // [N, r] x [r, C kh kw]
      return w[1].mm(w[0]).reshape({sh[1].size(0), sh[0].size(1), sh[0].size(2), sh[0].size(3)});
    case ConvMethod::spatial_svd:  // H [N, r, 1, kw], V [r, C, kh, 1]
      return at::einsum("nqx,qcy->ncyx", {sh[1].to(at::kDouble).select(2, 0), sh[0].to(at::kDouble).select(3, 0)});
    case ConvMethod::tucker2:
      return at::einsum("na,abyx,bc->ncyx", {w[2], sh[1].to(at::kDouble), w[0]});
    case ConvMethod::cp: {  // A [N, R] times the Khatri-Rao product of B, Y, X ([C kh kw, R]): no [N, R, C] temporary
      const at::Tensor kr = at::einsum("qc,qy,qx->cyxq", {w[0], w[1], w[2]});
      return w[3].mm(kr.reshape({-1, kr.size(3)}).t()).reshape({w[3].size(0), kr.size(0), kr.size(1), kr.size(2)});
    }
  }
  return {};
}

void apply_factors(ir::Model& m, ir::Node* n, const Factored& f) {
  if (f.conv)
    decompose_conv(m, n, f.factors);
  else
    decompose_linear(m, n, f.linear);
}

}  // namespace mc::lowrank
