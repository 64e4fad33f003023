#include "ir/shared_index.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "common/error.h"
#include "common/splitmix64.h"

namespace mc::ir {

namespace {

// (a x'^2 + b x' + c) mod p for x' = x mod p, every product below 2^62 (exact in int64).
at::Tensor poly_hash(const at::Tensor& x, int64_t a, int64_t b, int64_t c) {
  const int64_t p = kSharingPrime;
  at::Tensor xp = at::remainder(x, p);
  at::Tensor t = at::remainder(at::remainder(xp * a, p) * xp, p);
  return at::remainder(t + at::remainder(xp * b, p) + c, p);
}

SharingIndex compute(const SharingSpec& s) {
  const auto opts = at::TensorOptions().dtype(at::kLong);
  at::Tensor i = at::arange(s.out, opts).unsqueeze(1);
  at::Tensor j = at::arange(s.in, opts).unsqueeze(0);
  SharingIndex r;
  if (s.method == "hashed") {
    const auto h = hash_coefficients(s.seed);
    at::Tensor x = i * s.in + j;
    r.index = at::remainder(poly_hash(x, h[0], h[1], h[2]), s.k).contiguous();
    r.sign = (1 - 2 * at::remainder(poly_hash(x, h[3], h[4], h[5]), 2)).to(at::kFloat).contiguous();
  } else {
    const int64_t b = s.block, ncb = (s.in + b - 1) / b;
    at::Tensor diag = at::remainder(at::remainder(i, b) - at::remainder(j, b) + b, b);
    r.index = ((at::div(i, b, "floor") * ncb + at::div(j, b, "floor")) * b + diag).contiguous();
  }
  return r;
}

}  // namespace

int64_t circulant_size(int64_t out, int64_t in, int64_t block) {
  return ((out + block - 1) / block) * ((in + block - 1) / block) * block;
}

std::array<int64_t, 6> hash_coefficients(int64_t seed) {
  uint64_t state = static_cast<uint64_t>(seed) ^ 0x48617368654E6574ull;  // "HasheNet"
  std::array<int64_t, 6> out{};
  for (auto& v : out) v = static_cast<int64_t>(splitmix64(state) % static_cast<uint64_t>(kSharingPrime - 1)) + 1;
  return out;
}

void check_sharing_spec(const SharingSpec& s) {
  const std::string what = "shared_weight[" + s.method + "]";
  if (s.method != "hashed" && s.method != "circulant")
    throw Error("shared_weight method must be hashed or circulant, got '" + s.method + "'");
  if (s.out < 1 || s.in < 1) throw Error(what + ": out and in must be >= 1");
  if (s.out > (int64_t{1} << 40) / s.in)  // the index is materialised: out * in int64 entries
    throw Error(what + ": out x in = " + std::to_string(s.out) + " x " + std::to_string(s.in) + " is over 2^40");
  if (s.k < 1 || s.k > kSharingPrime) throw Error(what + ": k must be in 1..2^31-1, got " + std::to_string(s.k));
  if (s.method == "circulant") {
    if (s.block < 1) throw Error(what + ": block must be >= 1");
    if (s.k != circulant_size(s.out, s.in, s.block))
      throw Error(what + ": k is " + std::to_string(s.k) + ", block " + std::to_string(s.block) + " needs " +
                  std::to_string(circulant_size(s.out, s.in, s.block)));
  }
}

SharingSpec sharing_spec(const Node& n) {
  SharingSpec s;
  s.method = n.attrs().s("method");
  s.out = n.attrs().i("out");
  s.in = n.attrs().i("in");
  s.k = n.attrs().i("k");
  s.seed = n.attrs().i("seed", 0);
  s.block = n.attrs().i("block", 0);
  check_sharing_spec(s);
  return s;
}

const SharingIndex& sharing_index(const SharingSpec& s) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t>, std::unique_ptr<SharingIndex>>
      cache;
  const auto key = std::make_tuple(s.method, s.out, s.in, s.k, s.method == "hashed" ? s.seed : 0,
                                   s.method == "circulant" ? s.block : 0);
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[key];
  if (!slot) {
    c10::InferenceMode normal_tensors(false);  // usable by training later (never inference tensors)
    at::NoGradGuard no_grad;
    slot = std::make_unique<SharingIndex>(compute(s));
  }
  return *slot;
}

at::Tensor expand_shared(const at::Tensor& w, const SharingSpec& s) {
  const SharingIndex& ix = sharing_index(s);
  at::Tensor v = w.index_select(0, ix.index.reshape({-1}).to(w.device())).reshape({s.out, s.in});
  if (ix.sign.defined()) v = v * ix.sign.to(w.device(), w.scalar_type());
  return v;
}

at::Tensor project_onto_shared(const at::Tensor& dense, const SharingSpec& s) {
  const SharingIndex& ix = sharing_index(s);
  at::Tensor d = dense.detach().to(at::kCPU, at::kDouble).reshape({-1});
  if (ix.sign.defined()) d = d * ix.sign.reshape({-1}).to(at::kDouble);
  const at::Tensor idx = ix.index.reshape({-1});
  at::Tensor sums = at::zeros({s.k}, d.options()).index_add_(0, idx, d);
  at::Tensor counts = at::bincount(idx, {}, s.k).to(at::kDouble);
  return (sums / at::clamp_min(counts, 1.0)).to(at::kFloat);
}

}  // namespace mc::ir
