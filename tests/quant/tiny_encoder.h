// A small pre-norm transformer encoder written in IR text, for the transformer quantization tests:
// per block  h = LN1(x); q, k, v = linear(h); heads by reshape/transpose; softmax(q k^T / sqrt(d)) v;
// out-projection; x += attn; h2 = LN2(x); x += fc2(gelu(fc1(h2))). Input [batch, tokens, dim].
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "ir/model.h"

namespace mc::test {

struct EncoderShape {
  int64_t tokens = 8, dim = 16, heads = 2, mlp = 32, blocks = 2;
  int64_t head_dim() const { return dim / heads; }
};

inline std::string tiny_encoder_ir(const EncoderShape& s) {
  const std::string T = std::to_string(s.tokens), C = std::to_string(s.dim), H = std::to_string(s.heads),
                    D = std::to_string(s.head_dim());
  std::string g = "graph(%x: f32[2," + T + "," + C + "]) {\n";
  std::string x = "%x";
  for (int64_t b = 0; b < s.blocks; ++b) {
    const std::string p = "b" + std::to_string(b);  // value prefix
    const std::string sc = "blocks." + std::to_string(b);
    auto param = [&](const std::string& v, const std::string& name, const std::string& scope) {
      g += "  %" + p + v + " = param[name=\"" + sc + "." + name + "\"]() @" + sc + "." + scope + "\n";
    };
    auto linear = [&](const std::string& out, const std::string& in, const std::string& layer) {
      param(out + "_w", layer + ".weight", layer);
      param(out + "_b", layer + ".bias", layer);
      g += "  %" + p + out + " = linear(" + in + ", %" + p + out + "_w, %" + p + out + "_b) @" + sc + "." + layer + "\n";
    };
    auto ln = [&](const std::string& out, const std::string& in, const std::string& layer) {
      param(out + "_w", layer + ".weight", layer);
      param(out + "_b", layer + ".bias", layer);
      g += "  %" + p + out + " = layer_norm[normalized_shape=[" + C + "], eps=1e-05](" + in + ", %" + p + out + "_w, %" +
           p + out + "_b) @" + sc + "." + layer + "\n";
    };
    auto op = [&](const std::string& out, const std::string& expr, const std::string& scope) {
      g += "  %" + p + out + " = " + expr + " @" + sc + "." + scope + "\n";
    };
    ln("h", x, "ln1");
    for (const char* t : {"q", "k", "v"}) {
      linear(t, "%" + p + "h", std::string("attn.") + t);
      op(std::string(t) + "4", "reshape[shape=[0,0," + H + "," + D + "]](%" + p + t + ")", "attn");
      op(std::string(t) + "t", "transpose[dim0=1, dim1=2](%" + p + t + "4)", "attn");  // [B, H, T, D]
    }
    op("kT", "transpose[dim0=2, dim1=3](%" + p + "kt)", "attn");
    op("s", "matmul(%" + p + "qt, %" + p + "kT)", "attn.qk");
    g += "  %" + p + "scale = constant[name=\"" + sc + ".attn.scale\"]() @" + sc + ".attn\n";
    op("ss", "mul(%" + p + "s, %" + p + "scale)", "attn");
    op("a", "softmax[dim=-1](%" + p + "ss)", "attn.softmax");
    op("o", "matmul(%" + p + "a, %" + p + "vt)", "attn.av");
    op("ot", "transpose[dim0=1, dim1=2](%" + p + "o)", "attn");
    op("o3", "reshape[shape=[0,0," + C + "]](%" + p + "ot)", "attn");
    linear("proj", "%" + p + "o3", "attn.proj");
    op("r1", "add(" + x + ", %" + p + "proj)", "add1");
    ln("h2", "%" + p + "r1", "ln2");
    linear("f1", "%" + p + "h2", "mlp.fc1");
    op("gl", "gelu(%" + p + "f1)", "mlp.gelu");
    linear("f2", "%" + p + "gl", "mlp.fc2");
    op("r2", "add(%" + p + "r1, %" + p + "f2)", "add2");
    x = "%" + p + "r2";
  }
  g += "  return(" + x + ")\n}\n";
  return g;
}

/// The encoder with random weights (LayerNorm weights near 1, biases near 0, linear weights with
/// PyTorch's default scale 1/sqrt(fan_in)); `outlier_channels` of the LayerNorm `outlier_norm`
/// ("ln1", "ln2") of every block get their weight multiplied by `outlier_gain` (the activation
/// outliers SmoothQuant targets).
inline ir::Model tiny_encoder(const EncoderShape& s = {}, uint64_t seed = 5, const std::vector<int64_t>& outlier_channels = {},
                              double outlier_gain = 1.0, const std::string& outlier_norm = "ln1") {
  ir::Model m;
  m.name = "tiny_encoder";
  m.graph = ir::Graph::parse(tiny_encoder_ir(s));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto randn = [&](std::vector<int64_t> shape, double std) { return at::empty(shape).normal_(0, std, gen); };
  for (int64_t b = 0; b < s.blocks; ++b) {
    const std::string sc = "blocks." + std::to_string(b) + ".";
    for (const char* ln : {"ln1", "ln2"}) {
      at::Tensor w = 1.0 + randn({s.dim}, 0.1);
      if (ln == outlier_norm)
        for (int64_t c : outlier_channels) w[c] = w[c] * outlier_gain;
      m.tensors[sc + ln + ".weight"] = w;
      m.tensors[sc + ln + ".bias"] = randn({s.dim}, 0.1);
    }
    auto lin = [&](const std::string& name, int64_t out, int64_t in) {
      m.tensors[sc + name + ".weight"] = randn({out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
      m.tensors[sc + name + ".bias"] = randn({out}, 0.05);
    };
    for (const char* t : {"attn.q", "attn.k", "attn.v", "attn.proj"}) lin(t, s.dim, s.dim);
    lin("mlp.fc1", s.mlp, s.dim);
    lin("mlp.fc2", s.dim, s.mlp);
    m.tensors[sc + "attn.scale"] = at::scalar_tensor(1.0 / std::sqrt(static_cast<double>(s.head_dim())));
  }
  m.infer_shapes();
  m.verify();
  return m;
}

/// Token embeddings for the encoder: N x tokens x dim, standard normal.
inline at::Tensor encoder_tokens(int64_t n, const EncoderShape& s = {}, uint64_t seed = 9) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::empty({n, s.tokens, s.dim}).normal_(0, 1, gen);
}

/// Token sequences [N, tokens, dim] as an unlabelled dataset (the image datasets want N x C x H x W).
class TokenDataset : public data::Dataset {
 public:
  explicit TokenDataset(at::Tensor x) : x_(std::move(x)) {}
  size_t size() const override { return static_cast<size_t>(x_.size(0)); }
  data::Example get(size_t i) const override { return {x_[static_cast<int64_t>(i)], data::kNoLabel}; }
  int64_t num_classes() const override { return 0; }
  bool has_labels() const override { return false; }
  std::vector<int64_t> sample_shape() const override { return {x_.size(1), x_.size(2)}; }
  std::string name() const override { return "tokens"; }

 private:
  at::Tensor x_;
};

}  // namespace mc::test
