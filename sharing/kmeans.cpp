#include "sharing/kmeans.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>

#include "common/error.h"

namespace mc::share {

Init parse_init(const std::string& name) {
  if (name == "linear") return Init::linear;
  if (name == "density") return Init::density;
  if (name == "kmeans++") return Init::kmeanspp;
  throw Error("unknown k-means initialisation '" + name + "' (linear, density or kmeans++)");
}

std::string init_name(Init init) {
  switch (init) {
    case Init::linear: return "linear";
    case Init::density: return "density";
    case Init::kmeanspp: return "kmeans++";
  }
  return "?";
}

int64_t index_bits(int64_t k) {
  int64_t b = 0;
  while ((int64_t{1} << b) < k) ++b;
  return b;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The values as rows [R, n] (one row unless per channel), float64.
at::Tensor as_rows(const at::Tensor& w, const KMeansOptions& o) {
  if (!o.per_channel) return w.reshape({1, -1}).to(at::kDouble);
  return w.movedim(o.channel_dim, 0).reshape({w.size(o.channel_dim), -1}).to(at::kDouble);
}

// Rows [R, n] back to the weight's layout.
at::Tensor from_rows(const at::Tensor& rows, const at::Tensor& w, const KMeansOptions& o) {
  if (!o.per_channel) return rows.reshape(w.sizes()).contiguous();
  std::vector<int64_t> moved(w.sizes().begin(), w.sizes().end());
  moved.erase(moved.begin() + o.channel_dim);
  moved.insert(moved.begin(), w.size(o.channel_dim));
  return rows.reshape(moved).movedim(0, o.channel_dim).contiguous();
}

// Per row: min and max over the active values (0 for a row without any).
std::pair<at::Tensor, at::Tensor> active_range(const at::Tensor& x, const at::Tensor& active) {
  at::Tensor mn = at::where(active, x, at::full({}, kInf, x.options())).amin(1);
  at::Tensor mx = at::where(active, x, at::full({}, -kInf, x.options())).amax(1);
  const at::Tensor empty = active.any(1).logical_not();
  return {mn.masked_fill(empty, 0.0), mx.masked_fill(empty, 0.0)};
}

at::Tensor init_linear(const at::Tensor& x, const at::Tensor& active, int64_t m) {
  auto [mn, mx] = active_range(x, active);
  if (m == 1) return ((mn + mx) / 2).unsqueeze(1);
  const at::Tensor t = at::linspace(0.0, 1.0, m, x.options());
  return mn.unsqueeze(1) + (mx - mn).unsqueeze(1) * t.unsqueeze(0);
}

at::Tensor init_density(const at::Tensor& x, const at::Tensor& active, int64_t m) {
  const at::Tensor q = (at::arange(m, x.options()) + 0.5) / static_cast<double>(m);
  const at::Tensor masked = at::where(active, x, at::full({}, std::numeric_limits<double>::quiet_NaN(), x.options()));
  at::Tensor c = at::nanquantile(masked, q, 1, /*keepdim=*/false, "linear").t();  // [R, m]
  return at::nan_to_num(c, 0.0, 0.0, 0.0);  // a row without active values
}

// One index per row drawn with probability proportional to p (>= 0) of that row; a row whose p
// sums to 0 draws from `fallback` instead.
at::Tensor draw(const at::Tensor& p, const at::Tensor& fallback, at::Generator& gen) {
  const at::Tensor zero_rows = p.sum(1, /*keepdim=*/true).le(0.0);
  const at::Tensor w = at::where(zero_rows, fallback, p);
  const at::Tensor cum = w.cumsum(1).contiguous();
  const at::Tensor u = at::rand({w.size(0), 1}, gen, w.options()) * cum.select(1, w.size(1) - 1).unsqueeze(1);
  return at::searchsorted(cum, u, /*out_int32=*/false, /*right=*/true).clamp_max(w.size(1) - 1);
}

at::Tensor init_kmeanspp(const at::Tensor& x, const at::Tensor& active, int64_t m, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor act = active.to(at::kDouble);
  // A row without active values draws among all (its centroids get no weights anyway).
  const at::Tensor fallback = at::where(active.any(1, true), act, at::ones_like(act));
  std::vector<at::Tensor> cs{x.gather(1, draw(act, fallback, gen))};
  at::Tensor d2 = (x - cs.back()).square() * act;
  for (int64_t j = 1; j < m; ++j) {
    cs.push_back(x.gather(1, draw(d2, fallback, gen)));
    d2 = at::minimum(d2, (x - cs.back()).square() * act);
  }
  return at::cat(cs, 1);
}

// Nearest centroid of each value (centroids sorted per row): searchsorted on the midpoints.
at::Tensor assign(const at::Tensor& x, const at::Tensor& c) {
  if (c.size(1) == 1) return at::zeros(x.sizes(), x.options().dtype(at::kLong));
  const at::Tensor mids = ((c.narrow(1, 1, c.size(1) - 1) + c.narrow(1, 0, c.size(1) - 1)) / 2).contiguous();
  return at::searchsorted(mids, x.contiguous());
}

// Lloyd's update: each centroid the mean of its active values (an empty one stays), sorted.
at::Tensor update(const at::Tensor& x, const at::Tensor& act, const at::Tensor& a, const at::Tensor& c) {
  const at::Tensor sums = at::zeros_like(c).scatter_add_(1, a, x * act);
  const at::Tensor counts = at::zeros_like(c).scatter_add_(1, a, act);
  return std::get<0>(at::where(counts.gt(0), sums / counts.clamp_min(1.0), c).sort(1));
}

}  // namespace

Clustered kmeans_cluster(const at::Tensor& w, const KMeansOptions& o) {
  if (o.k < 2 || o.k > 256) throw Error("k-means: k must be in 2..256, got " + std::to_string(o.k));
  if (!w.is_floating_point() || w.dim() < 1) throw Error("k-means: the weight must be a floating-point tensor");
  if (o.per_channel && (o.channel_dim < 0 || o.channel_dim >= w.dim()))
    throw Error("k-means: channel dimension " + std::to_string(o.channel_dim) + " is outside the weight");
  const at::Tensor x = as_rows(w.detach().cpu(), o);
  Clustered out;
  out.zeros = x.numel() - x.count_nonzero().item<int64_t>();
  out.zero_entry = out.zeros > 0;
  const at::Tensor active = out.zero_entry ? x.ne(0.0) : at::ones_like(x, x.options().dtype(at::kBool));
  const at::Tensor act = active.to(at::kDouble);
  const int64_t m = out.zero_entry ? o.k - 1 : o.k;  // centroids that move

  at::Tensor c = o.init == Init::linear    ? init_linear(x, active, m)
                 : o.init == Init::density ? init_density(x, active, m)
                                           : init_kmeanspp(x, active, m, o.seed);
  c = std::get<0>(c.sort(1));
  at::Tensor a = assign(x, c);
  while (out.iterations < o.iters) {
    c = update(x, act, a, c);
    at::Tensor next = assign(x, c);
    ++out.iterations;
    const bool same = next.equal(a);
    a = next;
    if (same) break;
  }
  at::Tensor codebook = c;
  if (out.zero_entry) {
    codebook = at::cat({at::zeros({c.size(0), 1}, c.options()), c}, 1);
    a = at::where(active, a + 1, at::zeros_like(a));
  }
  out.codebook = o.per_channel ? codebook.to(w.scalar_type()) : codebook.reshape({-1}).to(w.scalar_type());
  out.indices = from_rows(a, w, o);
  return out;
}

at::Tensor decode(const Clustered& c, int64_t channel_dim) {
  if (c.codebook.dim() == 1) return c.codebook.index_select(0, c.indices.reshape({-1})).reshape(c.indices.sizes());
  KMeansOptions o;
  o.per_channel = true;
  o.channel_dim = channel_dim;
  const at::Tensor idx = c.indices.movedim(channel_dim, 0).reshape({c.indices.size(channel_dim), -1});
  return from_rows(c.codebook.gather(1, idx), c.indices, o);
}

}  // namespace mc::share
