// 1-D k-means of weight values (sharing/kmeans.h): the vectorised Lloyd against a plain scalar
// Lloyd written here, the three initialisations, zeros kept as their own fixed centroid, per-channel
// codebooks, determinism of kmeans++ under a seed.
#include "sharing/kmeans.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"

using namespace mc;
using share::Init;

namespace {

at::Tensor normal(std::vector<int64_t> shape, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randn(shape, g, at::TensorOptions().dtype(at::kFloat));
}

share::KMeansOptions opts(int64_t k, Init init, int64_t iters = 30) {
  share::KMeansOptions o;
  o.k = k;
  o.init = init;
  o.iters = iters;
  return o;
}

// Plain Lloyd on doubles: nearest centroid by scanning (ties to the lower), means, empty clusters
// keep their centroid; the same stopping rule (no assignment changed).
struct Scalar {
  std::vector<double> c;
  std::vector<int64_t> a;
};
Scalar scalar_lloyd(const std::vector<double>& x, std::vector<double> c, int64_t iters) {
  auto assign = [&](const std::vector<double>& cs) {
    std::vector<int64_t> a(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      size_t best = 0;
      for (size_t j = 1; j < cs.size(); ++j)
        if (std::abs(x[i] - cs[j]) < std::abs(x[i] - cs[best])) best = j;
      a[i] = static_cast<int64_t>(best);
    }
    return a;
  };
  std::vector<int64_t> a = assign(c);
  for (int64_t it = 0; it < iters; ++it) {
    std::vector<double> sum(c.size(), 0.0), cnt(c.size(), 0.0);
    for (size_t i = 0; i < x.size(); ++i) sum[a[i]] += x[i], cnt[a[i]] += 1;
    for (size_t j = 0; j < c.size(); ++j)
      if (cnt[j] > 0) c[j] = sum[j] / cnt[j];
    std::sort(c.begin(), c.end());
    std::vector<int64_t> next = assign(c);
    const bool same = next == a;
    a = next;
    if (same) break;
  }
  return {c, a};
}

}  // namespace

TEST(KMeans, LinearInitMatchesAScalarLloyd) {
  const at::Tensor w = normal({2000}, 1);
  const auto c = share::kmeans_cluster(w, opts(16, Init::linear, 100));
  std::vector<double> x(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) x[static_cast<size_t>(i)] = w[i].item<double>();
  const double mn = *std::min_element(x.begin(), x.end()), mx = *std::max_element(x.begin(), x.end());
  std::vector<double> init(16);
  for (int j = 0; j < 16; ++j) init[static_cast<size_t>(j)] = mn + (mx - mn) * j / 15.0;
  const Scalar ref = scalar_lloyd(x, init, 100);
  ASSERT_EQ(c.codebook.numel(), 16);
  EXPECT_FALSE(c.zero_entry);
  EXPECT_LT(c.iterations, 100) << "converged (no assignment changed)";
  for (int64_t j = 0; j < 16; ++j)  // the same means, rounded once to float32: half an ulp of float
    EXPECT_NEAR(c.codebook[j].item<double>(), ref.c[static_cast<size_t>(j)],
                std::abs(ref.c[static_cast<size_t>(j)]) * std::ldexp(1.0, -24) + 1e-30) << j;
  int64_t differ = 0;
  for (int64_t i = 0; i < w.numel(); ++i) differ += c.indices[i].item<int64_t>() != ref.a[static_cast<size_t>(i)];
  EXPECT_EQ(differ, 0);
}

TEST(KMeans, ConvergedCodebookIsALloydFixedPoint) {
  // Every value sits at its nearest centroid, and every used centroid is the mean of its values.
  const at::Tensor w = normal({64, 32, 3, 3}, 2) * 0.05;
  for (Init init : {Init::linear, Init::density, Init::kmeanspp}) {
    const auto c = share::kmeans_cluster(w, opts(8, init, 500));
    ASSERT_LT(c.iterations, 500) << share::init_name(init);
    const at::Tensor x = w.reshape({-1}).to(at::kDouble), cb = c.codebook.to(at::kDouble);
    const at::Tensor idx = c.indices.reshape({-1});
    const at::Tensor d = (x.unsqueeze(1) - cb.unsqueeze(0)).abs();  // [n, k]
    const at::Tensor own = d.gather(1, idx.unsqueeze(1)).squeeze(1);
    // Assignment uses the float64 centroids; the codebook is them rounded to float32 (relative
    // 2^-24), so a value may be nearer another centroid by at most that rounding.
    EXPECT_LE((own - std::get<0>(d.min(1))).max().item<double>(), 2 * cb.abs().max().item<double>() * std::ldexp(1.0, -24))
        << share::init_name(init);
    for (int64_t j = 0; j < 8; ++j) {
      const at::Tensor members = x.masked_select(idx.eq(j));
      if (members.numel() == 0) continue;
      EXPECT_NEAR(cb[j].item<double>(), members.mean().item<double>(), std::abs(cb[j].item<double>()) * std::ldexp(1.0, -23))
          << share::init_name(init) << " centroid " << j;
    }
    EXPECT_TRUE(c.codebook.slice(0, 1).gt(c.codebook.slice(0, 0, 7)).all().item<bool>()) << "sorted";
  }
}

TEST(KMeans, InitialisationsBeforeAnyIteration) {
  const at::Tensor w = normal({1000}, 3);
  const auto lin = share::kmeans_cluster(w, opts(5, Init::linear, 0));
  const at::Tensor expected = at::linspace(w.min().item<double>(), w.max().item<double>(), 5, at::kDouble);
  EXPECT_TRUE(at::allclose(lin.codebook.to(at::kDouble), expected, 0, 1e-6)) << lin.codebook;
  const auto den = share::kmeans_cluster(w, opts(4, Init::density, 0));
  const at::Tensor q = at::tensor({0.125, 0.375, 0.625, 0.875}, at::kDouble);
  EXPECT_TRUE(at::allclose(den.codebook.to(at::kDouble), at::quantile(w.to(at::kDouble), q), 0, 1e-6)) << den.codebook;
  // kmeans++ picks centroids among the values.
  const auto pp = share::kmeans_cluster(w, opts(6, Init::kmeanspp, 0));
  for (int64_t j = 0; j < 6; ++j) EXPECT_TRUE(w.eq(pp.codebook[j]).any().item<bool>()) << j;
}

TEST(KMeans, KmeansPlusPlusIsDeterministicGivenTheSeed) {
  const at::Tensor w = normal({4000}, 4);
  auto o = opts(16, Init::kmeanspp, 0);
  o.seed = 7;
  const auto a = share::kmeans_cluster(w, o), b = share::kmeans_cluster(w, o);
  EXPECT_TRUE(a.codebook.equal(b.codebook));
  EXPECT_TRUE(a.indices.equal(b.indices));
  o.seed = 8;
  EXPECT_FALSE(share::kmeans_cluster(w, o).codebook.equal(a.codebook)) << "another seed draws other centroids";
}

TEST(KMeans, ZerosKeepTheirOwnFixedCentroid) {
  at::Tensor w = normal({32, 16, 3, 3}, 5);
  const at::Tensor pruned = w.abs().lt(0.8);  // ~58 % zeros
  w.masked_fill_(pruned, 0.0);
  for (bool per_channel : {false, true}) {
    auto o = opts(16, Init::linear);
    o.per_channel = per_channel;
    const auto c = share::kmeans_cluster(w, o);
    EXPECT_TRUE(c.zero_entry);
    EXPECT_EQ(c.zeros, pruned.sum().item<int64_t>());
    const at::Tensor zero_col = per_channel ? c.codebook.select(1, 0) : c.codebook.slice(0, 0, 1);
    EXPECT_TRUE(zero_col.eq(0).all().item<bool>());
    EXPECT_TRUE(c.indices.masked_select(pruned).eq(0).all().item<bool>()) << "every zero at entry 0";
    EXPECT_TRUE(c.indices.masked_select(pruned.logical_not()).ne(0).all().item<bool>()) << "no non-zero at entry 0";
    const at::Tensor v = share::decode(c);
    EXPECT_TRUE(v.masked_select(pruned).eq(0).all().item<bool>());
    EXPECT_TRUE(v.masked_select(pruned.logical_not()).ne(0).all().item<bool>());
  }
}

TEST(KMeans, PerChannelCodebooksFollowEachRowsScale) {
  // Rows of very different scales: one shared codebook wastes its entries on the large rows.
  at::Tensor w = normal({8, 64, 3, 3}, 6) * at::pow(4.0, at::arange(8, at::kFloat)).reshape({8, 1, 1, 1});
  auto o = opts(4, Init::linear);
  const auto shared = share::kmeans_cluster(w, o);
  o.per_channel = true;
  const auto rows = share::kmeans_cluster(w, o);
  ASSERT_EQ(rows.codebook.sizes(), (at::IntArrayRef{8, 4}));
  const at::Tensor v = share::decode(rows);
  for (int64_t r = 0; r < 8; ++r)  // each row decodes through its own codebook
    EXPECT_TRUE(v[r].equal(rows.codebook[r].index_select(0, rows.indices[r].reshape({-1})).reshape(v[r].sizes())));
  // Worst relative error of a row. Per channel, each row is a Gaussian sample quantized to 4 levels:
  // Lloyd-Max's distortion for 4 levels of a unit Gaussian is 0.1175, i.e. a relative error of
  // 0.343 (0.5 leaves room for the sample). Shared, the small rows all fall on the entry nearest 0:
  // their error is ~1 (they are 4^-7 .. 4^-3 of the largest row's scale).
  auto worst_row = [&](const at::Tensor& a) {
    return ((a - w).reshape({8, -1}).norm(2, {1}) / w.reshape({8, -1}).norm(2, {1})).max().item<double>();
  };
  EXPECT_LT(worst_row(v), 0.5);
  EXPECT_GT(worst_row(share::decode(shared)), 0.9);
  // The output dimension of a matmul x @ W is 1.
  const at::Tensor m = w.reshape({8, -1}).t().contiguous();  // [576, 8]
  o.channel_dim = 1;
  const auto cols = share::kmeans_cluster(m, o);
  EXPECT_EQ(cols.codebook.sizes(), (at::IntArrayRef{8, 4}));
  EXPECT_TRUE(share::decode(cols, 1).equal(v.reshape({8, -1}).t())) << "the same rows, transposed";
}

TEST(KMeans, FewerDistinctValuesThanCentroidsAndRefusals) {
  const at::Tensor w = at::tensor({1.0f, 1.0f, 2.0f, 2.0f, 3.0f}, at::kFloat);
  const auto c = share::kmeans_cluster(w, opts(8, Init::kmeanspp));
  EXPECT_TRUE(share::decode(c).equal(w)) << "three values, eight entries: exact";
  EXPECT_THROW(share::kmeans_cluster(w, opts(1, Init::linear)), Error);
  EXPECT_THROW(share::kmeans_cluster(w, opts(257, Init::linear)), Error);
  EXPECT_EQ(share::index_bits(2), 1);
  EXPECT_EQ(share::index_bits(16), 4);
  EXPECT_EQ(share::index_bits(17), 5);
  EXPECT_EQ(share::index_bits(256), 8);
}
